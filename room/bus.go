package room

import "time"

// This file is the room's side of several nodes serving one room: chatd
// processes that share one Log (a JetStream stream on a NATS cluster),
// each with its own members. The Log numbers every public event, whoever
// appended it; each node reads the log's events in that order from its
// feed (Room.Feed) and delivers them to its own members, so that every
// member, on any node, sees one order. The Bus (Config.Bus) answers what
// the room cannot know by itself: who is on the other nodes, and how to
// reach them privately.

// Bus links a room to the other nodes that serve it. With Config.Bus set,
// the room is one node of several: it delivers public events only as its
// feed brings them (Feed), never straight after appending them, lists the
// members of every node (/who, the member list a joiner is shown) and
// sends a private message to a member it does not have across the bus.
//
// A Bus must not call the room (any method of Room or Member), directly or
// by waiting for a goroutine that does, from Peers or MembersChanged: the
// room calls them under its member lock.
type Bus interface {
	// Peers returns the members of the other nodes, from memory (the
	// room asks it under its member lock): at most MaxPeers of them.
	Peers() []Peer
	// MembersChanged tells the bus that the local members changed (a
	// join, a leave, a rename), so that it tells the other nodes soon. It
	// must not block: the room calls it under its member lock.
	MembersChanged()
	// Whisper delivers a private message from a local member to the
	// member called to on another node. The room calls it without its
	// locks; it may be slow, up to its own timeout. It returns the
	// receiver's nickname as its node has it, or why the message was not
	// delivered: an error wrapping ErrNoSuchMember, ErrPrivateLimit or
	// ErrNotDelivered, with the receiving room's words (Room.DeliverPrivate),
	// or the bus's failure.
	Whisper(from Sender, to, text string) (string, error)
}

// MaxPeers bounds the members a Bus lists of the other nodes.
const MaxPeers = 100_000

// Peer is a member on another node, as that node last told.
type Peer struct {
	Nick      string
	Node      string // the node it is on
	Transport Transport
	Joined    time.Time
}

// Sender is who sends a private message across nodes: its nickname, and
// the identity its node saw at the door (the receiving room shares out
// its members' private messages by it, as for a local sender).
type Sender struct {
	Nick     string
	Identity Identity
}

// Feed delivers ev, a public event the shared Log stored (appended by this
// node or another), to the local members, in the log's order: the node's
// feed calls it with every event of the log, oldest first, once each,
// from one goroutine. An event at or below the last one delivered is
// dropped. Without Config.Bus, Feed does nothing. Feed must not be called
// from a method of the Log the room called (see Log).
func (r *Room) Feed(ev *Event) {
	panic("room: Feed is not written yet")
}

// DeliverPrivate delivers a private message that came across the bus from
// a member of another node to the local member called to, and returns the
// receiver's nickname; or returns why not, as Whisper words it for a local
// sender: an error wrapping ErrNoSuchMember, ErrPrivateLimit or
// ErrNotDelivered. The text is cleaned and bounded as a local one is.
func (r *Room) DeliverPrivate(from Sender, to, text string) (string, error) {
	panic("room: DeliverPrivate is not written yet")
}

// Roster lists the local members (not those of other nodes), for the
// node's presence record: at most MaxPeers, in the order Members lists
// them.
func (r *Room) Roster() []Peer {
	panic("room: Roster is not written yet")
}

// Delivered returns the Seq of the last public event the room delivered.
// With Config.Bus, a new room starts at the log's end as New read it
// (LogEnd, else its last event), so that the node's feed starts right
// after it: Follow(r.Delivered(), r.Feed).
func (r *Room) Delivered() uint64 {
	panic("room: Delivered is not written yet")
}
