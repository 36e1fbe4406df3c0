// Package cluster makes one chatd process a node of a room that several
// serve on one NATS cluster: it keeps the node's presence (a record in a
// key-value bucket, renewed by heartbeats, with the node's members), learns
// the other nodes' members and notices a node that died, whose members it
// announces as left (once, whichever node notices) and whose nicknames it
// frees; it keeps one nickname space for all nodes (room.Nicks on a
// key-value bucket, claims made by atomic create); and it carries what goes
// from node to node without the log: private messages (room.Bus) and
// removals by operators (kicks).
//
// Public events never cross the bus here: they go through the shared
// stream, which each node reads once (jetlog's feed), so the bus carries
// each public event once per node, never once per member.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"chatd/room"
)

// Defaults for Options fields left zero.
const (
	DefaultHeartbeat = 5 * time.Second
	DefaultDeadAfter = 15 * time.Second
	DefaultTimeout   = 5 * time.Second
	// DefaultPrefix prefixes the subjects and names the buckets of one
	// room's nodes.
	DefaultPrefix = "chatd"
)

// ErrNodeTaken is wrapped by Join's error when a live node already has
// the name asked for.
var ErrNodeTaken = errors.New("a live node already has this name")

// LeaveLog is where a node announces the members of a dead node as left:
// the room's shared log. AppendOnce appends ev unless an event was
// appended with the same id lately (the stream's duplicate window), so
// that every node that notices the death may announce it, and the room
// hears it once.
//
// AppendOnceBatch is AppendOnce of each of evs with the id of the same
// index, its acks awaited together (jetlog.Log.AppendOnceBatch): each
// event stored, or found stored before under its id, has its Seq set; on
// an error, the others keep Seq 0.
type LeaveLog interface {
	AppendOnce(ev *room.Event, id string) (seq uint64, err error)
	AppendOnceBatch(evs []*room.Event, ids []string) error
}

// Options says which node this is and where the others are.
type Options struct {
	// Node names this node: 1 to 32 of A-Z a-z 0-9 _ -. Required.
	Node string
	// Conn is the connection to the NATS cluster (the log's). Required.
	Conn *nats.Conn
	// Log is the room's shared log, for the leaves of dead nodes. Required.
	Log LeaveLog
	// Replicas is the replication of the buckets the package creates
	// (default 1).
	Replicas int
	// Heartbeat is how often the node renews its presence record;
	// DeadAfter is how long after its last renewal a node counts as dead
	// (defaults DefaultHeartbeat, DefaultDeadAfter). DeadAfter must be
	// more than Heartbeat.
	Heartbeat time.Duration
	DeadAfter time.Duration
	// Timeout bounds each call to NATS (default DefaultTimeout).
	Timeout time.Duration
	// NickGrace is how long the nickname of a member of a dead node is
	// held for its owner's identity (default room.DefaultNickGrace): the
	// room's Config.NickGrace, so that a node's death keeps nicknames as
	// a member's involuntary leave does.
	NickGrace time.Duration
	// MaxHold is the longest a nickname record read from the bucket may
	// hold a nickname after the server stored it (plus a few seconds for
	// the clocks): the room's Config.NickGrace (default the larger of
	// NickGrace and room.DefaultNickGrace). A longer hold, from a node
	// whose clock is ahead or a forged record, ends then.
	MaxHold time.Duration
	// Prefix prefixes the subjects ("chatd.node.NAME.private") and, upper
	// case, names the buckets (CHATD_NODES, CHATD_NICKS) of the room's
	// nodes: 1 to 32 of a-z 0-9 _ - (default DefaultPrefix). Every node
	// of a room has the same.
	Prefix string
	// Registerer, if set, registers the node's metrics (see Node).
	Registerer prometheus.Registerer
	// Logger receives what the node has to say; nil: slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// withDefaults checks o and fills in its defaults.
func (o Options) withDefaults() (Options, error) {
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.DeadAfter <= 0 {
		o.DeadAfter = DefaultDeadAfter
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.NickGrace <= 0 {
		o.NickGrace = room.DefaultNickGrace
	}
	if o.MaxHold <= 0 {
		o.MaxHold = room.DefaultNickGrace
	}
	o.MaxHold = max(o.MaxHold, o.NickGrace)
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case !validNode(o.Node):
		return o, fmt.Errorf("cluster: node name %q: use 1 to 32 of A-Z a-z 0-9 _ -", o.Node)
	case !validNode(o.Prefix) || strings.ToLower(o.Prefix) != o.Prefix:
		return o, fmt.Errorf("cluster: prefix %q: use 1 to 32 of a-z 0-9 _ -", o.Prefix)
	case o.Conn == nil || o.Log == nil:
		return o, errors.New("cluster: Options.Conn and Options.Log are required")
	case o.DeadAfter <= o.Heartbeat:
		return o, fmt.Errorf("cluster: DeadAfter (%s) must be more than Heartbeat (%s)", o.DeadAfter, o.Heartbeat)
	}
	return o, nil
}

// Node is this process's place among the nodes of the room. Its methods
// are safe for concurrent use.
//
// Its metrics (Options.Registerer):
//   - chatd_cluster_nodes: the live nodes this node sees, itself included;
//   - chatd_cluster_dead_nodes_total: the dead nodes this node buried
//     (announced their members left, freed their nicknames, deleted their
//     record); each death is counted by one node, the one whose deletion
//     of the record won;
//   - chatd_cluster_private_total{result}: private messages this node
//     sent to another, by result: delivered, no-such-member (not on any
//     node, or gone), private-limit, not-delivered (the receiver is not
//     keeping up), no-answer (its node did not answer in time), error;
//   - chatd_cluster_bad_records_total: records and messages from other
//     nodes that were refused (corrupt, too big, forged, beyond bounds);
//   - chatd_cluster_conflicts_total: renewals that found this node's
//     record stored by another run of its name (a forgery, or a second
//     process given the same --node) and stored it again over it.
type Node struct {
	o        Options
	inc      string // this run's incarnation: random
	started  time.Time
	log      *slog.Logger
	nc       *nats.Conn
	nodesKV  jetstream.KeyValue
	nicksKV  jetstream.KeyValue
	maxSize  int // bound on a presence record
	metrics  *metrics
	changed  chan struct{} // MembersChanged: one pending signal at most
	stop     chan struct{}
	stopOnce sync.Once
	life     context.Context // cancelled by Close
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu           sync.Mutex
	nodes        map[string]nodeEntry      // the replica of the nodes bucket
	claims       map[string]claimEntry     // the replica of the nicknames bucket
	ownRev       uint64                    // the revision of this node's record
	lastBeat     time.Time                 // when this node's record was last stored
	upSince      time.Time                 // when its renewals last resumed (see live)
	sweeps       atomic.Uint64             // sweeps done, for tests
	stale        chan struct{}             // closed to restart the watches
	lagging      int                       // renewals that found the replica behind
	conflicted   bool                      // a conflict over the record was said (retake)
	duplicated   bool                      // another run of this name stored its record during this run
	burials      map[string][]bool         // burials under way: the leaves stored
	index        atomic.Pointer[peerIndex] // the other live nodes' members
	indexMu      sync.Mutex                // one build of the index at a time
	reindexC     chan struct{}             // asks the indexer for a build
	privateSlots chan struct{}             // private messages being handled
	recordSize   atomic.Int64              // the size of the node's last record
	room         attached
	subs         []*nats.Subscription
	probes       map[string]*probeCall // has requests in flight, by nickname key
	silent       map[string]time.Time  // node runs that did not answer, until when
}

// nodeEntry is a node's presence record as this node last saw it.
type nodeEntry struct {
	p      *presence
	rev    uint64
	stored time.Time // when the server stored it, by the server's clock
	seen   time.Time // when this node saw it, by this node's clock
}

// claimEntry is a nickname record as this node last saw it.
type claimEntry struct {
	r   *nickRecord
	rev uint64
	// claimed is when this run made the claim (zero if another did): a
	// member is still joining for a while after.
	claimed time.Time
}

// attached is what the node needs of the room it serves (room.Room).
type attached interface {
	Roster() []room.Peer
	DeliverPrivate(from room.Sender, to, text string) (string, error)
	Remove(match func(room.MemberInfo) bool, reason room.Reason) []string
	Find(nick string) (room.MemberInfo, bool)
}

// Join registers this node (its presence record) and starts following the
// others. It fails with ErrNodeTaken if a live node has the name already;
// a record of the name that was not renewed for DeadAfter (the previous
// run, killed) is buried first: its members announced left, its
// nicknames freed. The node serves nothing until Attach.
func Join(ctx context.Context, o Options) (*Node, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	n := &Node{o: o, inc: newIncarnation(), started: o.Now(), log: o.Logger.With("node", o.Node), nc: o.Conn,
		changed: make(chan struct{}, 1), stop: make(chan struct{}), stale: make(chan struct{}),
		nodes: make(map[string]nodeEntry), claims: make(map[string]claimEntry),
		probes: make(map[string]*probeCall), silent: make(map[string]time.Time),
		burials: make(map[string][]bool), reindexC: make(chan struct{}, 1),
		privateSlots: make(chan struct{}, maxPrivateHandlers)}
	n.index.Store(&peerIndex{})
	n.life, n.cancel = context.WithCancel(context.Background())
	n.maxSize = int(min(o.Conn.MaxPayload(), 8<<20))
	n.metrics = newMetrics(n)
	if o.Registerer != nil {
		if err := o.Registerer.Register(n.metrics); err != nil {
			return nil, fmt.Errorf("cluster: metrics: %w", err)
		}
	}
	if err := n.open(ctx); err != nil {
		n.halt()
		n.unregister()
		return nil, err
	}
	n.buildIndex()
	n.wg.Add(3)
	go n.beat()
	go n.sweeper()
	go n.indexer()
	return n, nil
}

// open opens the buckets, loads their replicas and takes the node's name.
func (n *Node) open(ctx context.Context) error {
	js, err := jetstream.New(n.nc)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	up := strings.ToUpper(n.o.Prefix)
	if n.nodesKV, err = n.bucket(ctx, js, up+"_NODES", int32(n.maxSize)); err != nil {
		return err
	}
	if n.nicksKV, err = n.bucket(ctx, js, up+"_NICKS", maxNickRecord); err != nil {
		return err
	}
	if err := n.follow(ctx, n.life, n.nodesKV, n.applyNode); err != nil {
		return err
	}
	if err := n.follow(ctx, n.life, n.nicksKV, n.applyClaim); err != nil {
		return err
	}
	if err := n.takeName(ctx); err != nil {
		return err
	}
	has, err := n.nc.Subscribe(n.hasSubject(n.o.Node), n.handleHas)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	n.mu.Lock()
	n.subs = append(n.subs, has)
	n.mu.Unlock()
	return nil
}

// bucket opens the key-value bucket name, creating it if there is none.
func (n *Node) bucket(ctx context.Context, js jetstream.JetStream, name string, maxValue int32) (jetstream.KeyValue, error) {
	ctx, cancel := context.WithTimeout(ctx, n.o.Timeout)
	defer cancel()
	kv, err := js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, History: 1,
			Replicas: n.o.Replicas, MaxValueSize: maxValue, Storage: jetstream.FileStorage})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: bucket %s: %w", name, err)
	}
	return kv, nil
}

// takeName stores this node's first presence record, burying a dead
// previous run of the same name first.
func (n *Node) takeName(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.o.Timeout)
	defer cancel()
	e, err := n.nodesKV.Get(ctx, n.o.Node)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return fmt.Errorf("cluster: reading the record of node %s: %w", n.o.Node, err)
	case n.o.Now().Sub(e.Created()) < n.o.DeadAfter:
		return fmt.Errorf("cluster: node %s: %w", n.o.Node, ErrNodeTaken)
	default:
		if err := n.bury(e, true); err != nil {
			return fmt.Errorf("cluster: burying the previous run of node %s: %w", n.o.Node, err)
		}
	}
	rev, err := n.nodesKV.Create(ctx, n.o.Node, n.encodePresence(nil))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("cluster: node %s: %w", n.o.Node, ErrNodeTaken)
	}
	if err != nil {
		return fmt.Errorf("cluster: storing the record of node %s: %w", n.o.Node, err)
	}
	n.mu.Lock()
	n.ownRev, n.lastBeat, n.upSince = rev, n.o.Now(), n.o.Now()
	n.mu.Unlock()
	return nil
}

// newIncarnation returns a random name for this run of the node.
func newIncarnation() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Nicks returns the cluster-wide nickname store, for room.Config.Nicks
// (which the access Directory wraps).
func (n *Node) Nicks() room.Nicks { return (*kvNicks)(n) }

// Bus returns the room's link to the other nodes, for room.Config.Bus.
func (n *Node) Bus() room.Bus { return (*bus)(n) }

// Attach starts serving r: the node publishes r's members (Room.Roster)
// in its presence record, delivers the private messages that come for
// them (Room.DeliverPrivate), removes them when an operator on another
// node kicks them (Room.Remove) and tells the other nodes whether it still
// has a member that claimed a nickname (Room.Find; until Attach, it says
// yes to every such question, not knowing).
func (n *Node) Attach(r *room.Room) {
	if err := n.attach(r); err != nil {
		n.log.Error("cluster: attaching the room", "err", err)
	}
}

// attach is Attach for any attached, so that tests can drive it.
func (n *Node) attach(r attached) error {
	n.mu.Lock()
	n.room = r
	n.mu.Unlock()
	priv, err := n.nc.Subscribe(n.privateSubject(n.o.Node), n.handlePrivate)
	if err != nil {
		return err
	}
	kick, err := n.nc.Subscribe(n.kickSubject(), n.handleKick)
	if err != nil {
		_ = priv.Unsubscribe()
		return err
	}
	n.mu.Lock()
	n.subs = append(n.subs, priv, kick)
	n.mu.Unlock()
	n.membersChanged()
	return n.nc.Flush()
}

// attachedRoom returns the room attached, or nil.
func (n *Node) attachedRoom() attached {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.room
}

// Peers returns the other live nodes and how many members each has.
func (n *Node) Peers() []NodeInfo {
	now := n.o.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []NodeInfo
	for name, e := range n.nodes {
		if name != n.o.Node && n.live(e, now) {
			out = append(out, NodeInfo{Name: name, Started: e.p.Started, Members: e.p.Count, LastSeen: e.stored})
		}
	}
	return out
}

// NodeInfo is what a node tells of itself in its presence record.
type NodeInfo struct {
	Name     string
	Started  time.Time
	Members  int
	LastSeen time.Time
}

// live reports whether the node of e renewed its record within DeadAfter:
// by the time the server stored it, or, so that a clock ahead of the
// server's takes no one for dead, by the time this node saw it; and a
// node that was itself cut off counts from when it was back, so that an
// outage of NATS kills no one. The caller holds n.mu.
func (n *Node) live(e nodeEntry, now time.Time) bool {
	return now.Sub(e.stored) < n.o.DeadAfter || now.Sub(maxTime(e.seen, n.upSince)) < n.o.DeadAfter
}

// maxTime returns the later of a and b.
func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// changedMeanwhile reports whether err is a compare-and-set that lost:
// the record is no longer at the revision given.
func changedMeanwhile(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && (api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Close stops following the others and deletes this node's presence
// record and nickname claims (the room stores its members' leaves when it
// closes, before). Nicknames held for members that left involuntarily
// stay held, for their owners to take back on another node.
func (n *Node) Close() error {
	if !n.halt() {
		return nil
	}
	defer n.unregister()
	ctx, cancel := context.WithTimeout(context.Background(), n.o.Timeout)
	defer cancel()
	var errs []error
	n.mu.Lock()
	mine := n.ownClaims()
	rev := n.ownRev
	n.mu.Unlock()
	for key, rev := range mine {
		if err := n.deleteOwn(ctx, n.nicksKV, key, rev, n.ownClaim); err != nil {
			errs = append(errs, err)
		}
	}
	if err := n.deleteOwn(ctx, n.nodesKV, n.o.Node, rev, n.ownRecord); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cluster: closing node %s: %w", n.o.Node, err)
	}
	return nil
}

// deleteOwn deletes the record under key, compare-and-set on rev; if it
// changed meanwhile (a renewal whose ack came too late to be noted), it
// reads it again and deletes it if mine says it is still this run's.
func (n *Node) deleteOwn(ctx context.Context, kv jetstream.KeyValue, key string, rev uint64, mine func(key string, value []byte) bool) error {
	err := kv.Delete(ctx, key, jetstream.LastRevision(rev))
	if !changedMeanwhile(err) {
		return err
	}
	e, err := kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil
	case err != nil:
		return err
	case !mine(key, e.Value()):
		return nil // another's now
	}
	return kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
}

// ownRecord reports whether value is a presence record of this run.
func (n *Node) ownRecord(key string, value []byte) bool {
	p, ok := decodePresence(key, value, n.maxSize)
	return ok && p.Incarnation == n.inc
}

// ownClaim reports whether value is a claim (not a hold) of this run.
func (n *Node) ownClaim(key string, value []byte) bool {
	r, ok := decodeNick(key, value)
	return ok && r.Node == n.o.Node && r.Incarnation == n.inc && !r.held()
}

// ownClaims returns the keys and revisions of this run's claims (not its
// holds). The caller holds n.mu.
func (n *Node) ownClaims() map[string]uint64 {
	mine := make(map[string]uint64)
	for key, c := range n.claims {
		if c.r.Node == n.o.Node && c.r.Incarnation == n.inc && !c.r.held() {
			mine[key] = c.rev
		}
	}
	return mine
}

// halt stops the node's goroutines and subscriptions, reporting false if
// it had already.
func (n *Node) halt() bool {
	first := false
	n.stopOnce.Do(func() {
		first = true
		close(n.stop)
		n.mu.Lock()
		subs := n.subs
		n.subs = nil
		n.mu.Unlock()
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
		n.drainPrivate()
		n.cancel()
		n.wg.Wait()
	})
	return first
}

// unregister removes the node's metrics from Options.Registerer.
func (n *Node) unregister() {
	if n.o.Registerer != nil {
		n.o.Registerer.Unregister(n.metrics)
	}
}

// privateSubject is where node receives private messages.
func (n *Node) privateSubject(node string) string { return n.o.Prefix + ".node." + node + ".private" }

// kickSubject is where the nodes hear kicks.
func (n *Node) kickSubject() string { return n.o.Prefix + ".nodes.kick" }
