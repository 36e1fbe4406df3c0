package room

import (
	"errors"
	"time"
)

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
	// room asks it under its member lock, at every join and /who): at
	// most MaxPeers of them, sorted as CompareNicks sorts (the room merges
	// them with its own, which are, and lists the first ones only). It
	// should cost no more than returning a slice built beforehand: the
	// slice may be shared, and the room does not modify it.
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
	// Identity is what its node saw at the door, as that node told: what
	// an operator bans (never shown to members: /whois shows Node).
	Identity Identity
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
// dropped, and so is anything but a public event. Without Config.Bus,
// Feed does nothing. Feed must not be called from a method of the Log the
// room called (see Log).
//
// Feed never waits for the log: while the room's sequencer is storing a
// batch, the events fed are held and delivered right after the batch is
// applied, so that the room knows which of them its own members sent
// (one that asked for no echo is not shown its own line).
func (r *Room) Feed(ev *Event) {
	if r.cfg.Bus == nil || ev == nil || !ev.Kind.Public() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.feed(ev)
}

// DeliverPrivate delivers a private message that came across the bus from
// a member of another node to the local member called to, and returns the
// receiver's nickname; or returns why not, as Whisper words it for a local
// sender: an error wrapping ErrNoSuchMember, ErrPrivateLimit or
// ErrNotDelivered. The text is cleaned and bounded as a local one is; a
// message whose sender's nickname is not valid, or is a local member's
// (another node cannot have it: a forgery), is not delivered.
//
// It returns as soon as the message is taken into the room's order (or
// refused), without waiting for the work queued before it (a batch being
// stored may take the log's timeout): the other node answers its sender
// at once. The receiver is shown it in that order; if it leaves in
// between, the message is dropped with it.
func (r *Room) DeliverPrivate(from Sender, to, text string) (string, error) {
	text, err := r.boundPrivate(from, text)
	if err != nil {
		return "", err
	}
	from.Identity = boundIdentity(from.Identity)
	to = cleanArg(cutBytes(to, r.cfg.MaxLineBytes))
	r.mu.Lock()
	busy := !r.jobs.idle()
	target, err := r.privateFrom(from, to, text)
	if busy {
		// Queued behind work in flight or queued: whoever does that work
		// (the sequencer's holder takes the queue again after each batch,
		// every queuer runs it in Unlock) delivers it too. Not waiting.
		r.mu.release()
	} else {
		r.mu.Unlock() // delivered at once
	}
	if err != nil {
		return "", err
	}
	return target, nil
}

// boundPrivate checks a private message from another node as prepare does
// a local one's, and its sender's nickname.
func (r *Room) boundPrivate(from Sender, text string) (string, error) {
	if ValidateNick(from.Nick) != nil {
		return "", refuse(ErrNotDelivered, "the sender's nickname is not valid; the message was not delivered")
	}
	if len(text) > r.cfg.MaxLineBytes {
		return "", refuse(ErrTooLong, "line too long (%d bytes, the limit is %d); it was not sent", len(text), r.cfg.MaxLineBytes)
	}
	text = cleanArg(text)
	if len(text) > r.cfg.MaxLineBytes {
		return "", refuse(ErrTooLong, "line too long once cleaned (%d bytes, the limit is %d); it was not sent", len(text), r.cfg.MaxLineBytes)
	}
	if text == "" {
		return "", ErrEmpty
	}
	return text, nil
}

// maxIdentityBytes bounds each field of an identity another node sends:
// longer than any address or fingerprint.
const maxIdentityBytes = 256

// boundIdentity cuts the fields of an identity another node sent.
func boundIdentity(id Identity) Identity {
	id.Address = cutBytes(id.Address, maxIdentityBytes)
	id.KeyFingerprint = cutBytes(id.KeyFingerprint, maxIdentityBytes)
	id.CertFingerprint = cutBytes(id.CertFingerprint, maxIdentityBytes)
	return id
}

// privateFrom starts the delivery of a private message from a member of
// another node to the local member called to, in the room's order; it
// returns the receiver's nickname. The caller holds r.mu.
func (r *Room) privateFrom(from Sender, to, text string) (string, error) {
	if r.closed {
		return "", refuse(ErrClosed, "the room is closing; nothing more is sent")
	}
	if r.byNick[nickKey(from.Nick)] != nil { // nicknames are one space: not from another node
		return "", refuse(ErrNotDelivered, "the sender's nickname is a member's of this node; the message was not delivered")
	}
	target := r.byNick[nickKey(to)]
	if target == nil {
		return "", refuse(ErrNoSuchMember, "no one called %q is here; /who lists the members", to)
	}
	if !r.allowPrivate(target, from.Identity) {
		r.counts.rejected[RejectPrivate]++
		return "", refuse(ErrPrivateLimit, "%s is receiving too many private messages; yours was not delivered, try again later", target.nick)
	}
	private := &Event{Kind: Private, From: from.Nick, To: target.nick, Text: text}
	r.inOrder(job{kind: privateJob, to: target, ev: private, result: new(error)}) // nobody waits for it
	return target.nick, nil
}

// Roster lists the local members (not those of other nodes), for the
// node's presence record: at most MaxPeers, in the order Members lists
// them. Node is left empty: the bus knows its own name.
func (r *Room) Roster() []Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	nicks := r.roster[:min(len(r.roster), MaxPeers)]
	peers := make([]Peer, 0, len(nicks))
	for _, nick := range nicks {
		m := r.byNick[nickKey(nick)]
		if m == nil {
			continue
		}
		peers = append(peers, Peer{Nick: nick, Transport: m.id.Transport, Joined: m.joined, Identity: m.id})
	}
	return peers
}

// PeerFinder is what a Bus may add to find one member of the other nodes
// without a scan of Peers (Room.Peer asks it at every /whois, /ban,
// /kick of a member that is not local).
type PeerFinder interface {
	// Peer returns the member of another node called nick (or a
	// look-alike of it: by NickKey), if a node lists one.
	Peer(nick string) (Peer, bool)
}

// Peer returns the member of another node called nick (or a look-alike of
// it), as Config.Bus lists it (PeerFinder if the bus is one, else a scan
// of Bus.Peers); false without a Bus, or if no other node lists one.
func (r *Room) Peer(nick string) (Peer, bool) {
	if r.cfg.Bus == nil {
		return Peer{}, false
	}
	if f, ok := r.cfg.Bus.(PeerFinder); ok {
		return f.Peer(nick)
	}
	key := nickKey(nick)
	for _, p := range r.cfg.Bus.Peers() {
		if nickKey(p.Nick) == key {
			return p, true
		}
	}
	return Peer{}, false
}

// Delivered returns the Seq of the last public event the room delivered.
// With Config.Bus, a new room starts at the log's end (LogEnd, else its
// last event), so that the node's feed starts right after it:
// after, err := r.Delivered(); Follow(after, r.Feed). New reads that end;
// as long as it could not, Delivered reads it again, at once (past the
// backoff of ResumeFrom's reads), and returns the log's error: a feed
// started from anything less would show the members old events as new.
func (r *Room) Delivered() (uint64, error) {
	if r.cfg.Bus != nil {
		if err := r.startFeed(); err != nil {
			return 0, err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hub.last, nil
}

// startFeed starts the hub at the log's end, unless it has been already:
// a read of the log, so the caller holds no lock. It returns the log's
// error if it could not read the end.
func (r *Room) startFeed() error {
	r.mu.Lock()
	started := r.feedState.started
	r.mu.Unlock()
	if started {
		return nil
	}
	last, err := r.lastSeq()
	if err != nil {
		if last, err = r.readEnd(); err != nil {
			return err
		}
		r.noteEnd(last)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.feedState.started {
		r.feedState.started = true
		r.hub.last = max(r.hub.last, last)
		r.welcomeBefore(r.hub.last + 1) // their Joins will not be fed
	}
	return nil
}

// errElsewhere says that the receiver of a private message is not on this
// node: Whisper then asks the bus (whisperAcross).
var errElsewhere = errors.New("not on this node")

// whisperAcross sends private, m's message to a member no local member
// is, across the bus (Bus.Whisper), without the room's locks; once the
// other node delivered it, m is sent its receipt, in the room's order, and
// the message is logged (Config.MessageLog). The receiver's node counts
// it. The bus's error is returned as it is.
func (m *Member) whisperAcross(private *Event) error {
	r := m.room
	to, err := r.cfg.Bus.Whisper(Sender{Nick: private.From, Identity: m.id}, private.To, private.Text)
	if err != nil {
		return err
	}
	if ValidateNick(to) == nil { // else another node's word is not shown
		private.To = to
	}
	r.mu.Lock()
	if _, present := r.members[m]; present {
		r.reply(m, &Event{Kind: PrivateSent, From: private.From, To: private.To, Text: private.Text})
	}
	r.mu.Unlock() // delivers it, behind the work queued before it
	r.logMessage(private)
	return nil
}
