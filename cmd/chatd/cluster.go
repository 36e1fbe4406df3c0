package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"chatd/cluster"
	"chatd/internal/jetlog"
	"chatd/room"
)

// clusterConfig is how this chatd joins the other nodes of its room (the
// cluster flags): none of it applies without --node.
type clusterConfig struct {
	node      string        // --node: this node's name; "" for a room on one node
	replicas  int           // --nats-replicas: servers that keep the stream and buckets
	heartbeat time.Duration // --cluster-heartbeat: how often the node renews its presence
	deadAfter time.Duration // --cluster-dead-after: silence after which a node is dead
}

// The bounds of the cluster flags.
const (
	maxReplicas  = 5
	minHeartbeat = 100 * time.Millisecond
)

var nodeNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// addClusterFlags declares the flags that make chatd one node of several.
func addClusterFlags(fs *flag.FlagSet, c *clusterConfig) {
	fs.StringVar(&c.node, "node", "", "serve the room with the other chatd nodes on --nats, as the node `NAME` (1 to 32 of A-Z a-z 0-9 _ -, unique among them): every node shows the same room, one order, one nickname space (see docs/CLUSTER.md); needs --nats")
	fs.IntVar(&c.replicas, "nats-replicas", 1, "how many NATS servers keep the room's stream and records (1 to 5; 3 on a three-server cluster survives the loss of one)")
	fs.DurationVar(&c.heartbeat, "cluster-heartbeat", cluster.DefaultHeartbeat, "with --node, how often this node tells the others it is alive")
	fs.DurationVar(&c.deadAfter, "cluster-dead-after", cluster.DefaultDeadAfter, "with --node, how long a node may go without telling before the others announce its members as left and free their nicknames (at least twice --cluster-heartbeat)")
}

// check says what is wrong with the cluster flags, given the store's.
func (c clusterConfig) check(s storeConfig) error {
	if c.replicas < 1 || c.replicas > maxReplicas {
		return fmt.Errorf("--nats-replicas %d: want 1 to %d", c.replicas, maxReplicas)
	}
	if c.replicas > 1 && s.natsURL == "" {
		return errors.New("--nats-replicas needs --nats: the embedded server is one server")
	}
	if c.node == "" {
		return nil
	}
	if !nodeNameRE.MatchString(c.node) {
		return fmt.Errorf("--node %.40q: want 1 to 32 of A-Z a-z 0-9 _ -", c.node)
	}
	if s.natsURL == "" {
		return errors.New("--node needs --nats: the nodes of a room meet on a NATS server (or cluster) they share")
	}
	if c.heartbeat < minHeartbeat {
		return fmt.Errorf("--cluster-heartbeat %s: at least %s", c.heartbeat, minHeartbeat)
	}
	if c.deadAfter < 2*c.heartbeat {
		return fmt.Errorf("--cluster-dead-after %s: at least twice --cluster-heartbeat (%s)", c.deadAfter, 2*c.heartbeat)
	}
	return nil
}

// clustered reports whether this chatd is one node of several.
func (c clusterConfig) clustered() bool { return c.node != "" }

// joinCluster makes this chatd a node of its room on the store's NATS
// cluster; nil, nil without --node. The caller closes it after the room.
func joinCluster(ctx context.Context, cfg *config, store *jetlog.Log, reg prometheus.Registerer, logger *slog.Logger) (*cluster.Node, error) {
	c := cfg.cluster
	if !c.clustered() {
		return nil, nil
	}
	node, err := cluster.Join(ctx, cluster.Options{
		Node:       c.node,
		Conn:       store.Conn(),
		Log:        store,
		Replicas:   c.replicas,
		Heartbeat:  c.heartbeat,
		DeadAfter:  c.deadAfter,
		NickGrace:  deadNodeGrace(cfg.room.NickGrace, c.deadAfter),
		MaxHold:    cfg.room.NickGrace,
		Logger:     logger.With("part", "cluster"),
		Registerer: reg,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return node, nil
}

// deadNodeGrace is how long the nicknames of a dead node's members stay
// held for them once the node is buried: --nick-grace, as for a member who
// lost its connection, but no longer than --cluster-dead-after, so that
// with the defaults a dead node's nicknames are free for anyone within
// about 30 s of its death (15 s to notice it, 15 s held), while their
// owners, whose clients fail over at once, take them back meanwhile.
func deadNodeGrace(nickGrace, deadAfter time.Duration) time.Duration {
	if nickGrace <= 0 {
		nickGrace = room.DefaultNickGrace
	}
	return min(nickGrace, deadAfter)
}

// closeNode leaves the cluster after the room, logging a failure.
func closeNode(node *cluster.Node, logger *slog.Logger) {
	if err := node.Close(); err != nil {
		logger.Warn("the node did not leave the cluster cleanly", "err", err)
	}
}

// follow starts the node's feed: every public event of the shared stream,
// whoever appended it, delivered to the room's members in the stream's
// order, starting after the stream's end as the room read it (feedStart).
// The caller stops it after the room.
func follow(ctx context.Context, store *jetlog.Log, chatRoom *room.Room) (*jetlog.Follower, error) {
	after, err := feedStart(ctx, chatRoom)
	if err != nil {
		return nil, err
	}
	f, err := store.Follow(after, chatRoom.Feed)
	if err != nil {
		return nil, fmt.Errorf("the room's feed: %w", err)
	}
	return f, nil
}

// feedStartWait bounds how long a starting node waits for the stream to
// say where it ends (a stream electing a leader cannot), and feedRetry*
// how often it asks meanwhile.
const (
	feedStartWait  = 30 * time.Second
	feedRetryFirst = 250 * time.Millisecond
	feedRetryMax   = 2 * time.Second
)

// feedStart returns where the room's feed starts: the stream's end, read
// by the room (room.Room.Delivered), asked again until the stream answers
// or feedStartWait has passed.
func feedStart(ctx context.Context, chatRoom *room.Room) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, feedStartWait)
	defer cancel()
	for wait := feedRetryFirst; ; wait = min(2*wait, feedRetryMax) {
		after, err := chatRoom.Delivered()
		if err == nil {
			return after, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("the room's feed: the stream did not say where it ends within %s: %w", feedStartWait, err)
		case <-time.After(wait):
		}
	}
}

// busLag exports how far the node's feed is behind the shared stream.
func busLag(f *jetlog.Follower) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "chatd_cluster_bus_lag_events",
			Help: "Public events the room's stream holds that this node has not yet delivered to its members.",
		}, func() float64 { n, _ := f.Lag(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "chatd_cluster_bus_lag_seconds",
			Help: "How long ago the oldest public event this node has not yet delivered was stored (0 when it is up to date).",
		}, func() float64 { _, d := f.Lag(); return d.Seconds() }),
	}
}

// nodeRegisterer is where chatd registers its metrics: reg, with a node
// label on every metric when this chatd is one node of several, so that
// the nodes' metrics can be told apart once gathered together.
func nodeRegisterer(reg *prometheus.Registry, c clusterConfig) prometheus.Registerer {
	if !c.clustered() {
		return reg
	}
	return prometheus.WrapRegistererWith(prometheus.Labels{"node": c.node}, reg)
}

// clusterPart is the banner's line on the other nodes, for a node.
func clusterPart(c clusterConfig, node *cluster.Node) part {
	peers := node.Peers()
	return part{
		text: fmt.Sprintf("Cluster: node %s, with %d other live node(s); stream and records on %d NATS server(s)\n", c.node, len(peers), c.replicas),
		msg:  "cluster",
		attrs: []slog.Attr{
			slog.String("node", c.node), slog.Int("peers", len(peers)), slog.Int("replicas", c.replicas),
		},
	}
}

// unauthenticatedNATS reports whether this node would meet the others on
// NATS without credentials of its own: no --nats-creds, no --nats-cert and
// no user or token in any --nats URL. Anyone who can connect to those
// servers could then speak as any member, ban anyone and bury nodes.
func unauthenticatedNATS(s storeConfig) bool {
	if s.natsCreds != "" || s.natsCert != "" {
		return false
	}
	for raw := range strings.SplitSeq(s.natsURL, ",") {
		if u, err := url.Parse(strings.TrimSpace(raw)); err == nil && u.User != nil {
			return false
		}
	}
	return true
}

// openNATSPart is the banner's warning for a node on an unauthenticated
// NATS (unauthenticatedNATS).
func openNATSPart(s storeConfig) part {
	return part{
		text: "WARNING: the nodes meet on NATS without credentials: whoever can connect to " + jetlog.RedactURLs(s.natsURL) +
			" can write the room as any member, ban anyone and bury nodes; give the nodes an account of their own (--nats-creds or --nats-cert; docs/CLUSTER.md)\n",
		msg:   "the nodes meet on NATS without credentials",
		attrs: []slog.Attr{slog.String("nats", jetlog.RedactURLs(s.natsURL))},
		level: slog.LevelWarn,
	}
}
