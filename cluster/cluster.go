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
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

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
type LeaveLog interface {
	AppendOnce(ev *room.Event, id string) (seq uint64, err error)
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
	// (defaults DefaultHeartbeat, DefaultDeadAfter).
	Heartbeat time.Duration
	DeadAfter time.Duration
	// Timeout bounds each call to NATS (default DefaultTimeout).
	Timeout time.Duration
	// Logger receives what the node has to say; nil: slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Node is this process's place among the nodes of the room. Its methods
// are safe for concurrent use.
type Node struct {
}

// Join registers this node (its presence record) and starts following the
// others. It fails with ErrNodeTaken if a live node has the name already.
// The node serves nothing until Attach.
func Join(ctx context.Context, o Options) (*Node, error) {
	return nil, errors.New("cluster: not written yet")
}

// Nicks returns the cluster-wide nickname store, for room.Config.Nicks
// (which the access Directory wraps).
func (n *Node) Nicks() room.Nicks { panic("not written yet") }

// Bus returns the room's link to the other nodes, for room.Config.Bus.
func (n *Node) Bus() room.Bus { panic("not written yet") }

// Attach starts serving r: the node publishes r's members (Room.Roster)
// in its presence record, delivers the private messages that come for
// them (Room.DeliverPrivate) and removes them when an operator on
// another node kicks them (Room.Remove).
func (n *Node) Attach(r *room.Room) { panic("not written yet") }

// Kick asks every other node to remove its members called nick (compared
// by room.NickKey) for reason. The caller removes its own.
func (n *Node) Kick(ctx context.Context, nick string, reason room.Reason) error {
	return errors.New("cluster: not written yet")
}

// Peers returns the other live nodes and how many members each has.
func (n *Node) Peers() []NodeInfo { return nil }

// NodeInfo is what a node tells of itself in its presence record.
type NodeInfo struct {
	Name     string
	Started  time.Time
	Members  int
	LastSeen time.Time
}

// Close stops following the others and deletes this node's presence
// record and nickname claims (the room stores its members' leaves when it
// closes, before).
func (n *Node) Close() error { return nil }
