package room

import (
	"slices"
	"time"
)

// Policy says who may come in, who governs the room and who may not
// speak in it. The room asks it under its member lock, on every join and
// every line a member sends, so it must answer from memory, must not
// block, and must not call the room.
type Policy interface {
	// Admit decides whether the holder of id may join now; a non-nil
	// error refuses the join. The room asks it under the lock Remove
	// takes, so a ban's Remove and a join are ordered: a join the policy
	// admitted is matched by the Remove that follows it, and one asked
	// after the ban is refused. Join returns the error as is, unwrapped,
	// for the gateway to tell the joiner (its door's own words).
	Admit(id Identity) error
	// Operator reports whether the holder of id is one of the room's
	// operators, who may run OperatorOnly commands.
	Operator(id Identity) bool
	// Muted reports whether the member called nick, whose identity is id,
	// may read but not send, and until when (zero: until an operator
	// unmutes it).
	Muted(nick string, id Identity) (until time.Time, muted bool)
}

// MemberInfo is what the room tells of a present member (Room.Find,
// Room.Remove): its nickname, its identity and when it joined.
type MemberInfo struct {
	Nick     string
	Identity Identity
	Joined   time.Time
}

// MaxTellLines bounds the lines one Member.Tell sends.
const MaxTellLines = 64

// admitPolicy asks Config.Policy whether the holder of id may join now,
// and returns its refusal as is. The caller holds r.mu, so that a ban's
// Remove and the join are ordered.
func (r *Room) admitPolicy(id Identity) error {
	if r.cfg.Policy == nil {
		return nil
	}
	return r.cfg.Policy.Admit(id)
}

// refuseMuted returns ErrMuted, worded for m, if the policy muted m. The
// caller holds r.mu.
func (r *Room) refuseMuted(m *Member) error {
	if r.cfg.Policy == nil {
		return nil
	}
	until, muted := r.cfg.Policy.Muted(m.nick, m.id)
	switch {
	case !muted, !until.IsZero() && !until.After(r.cfg.Now()):
		return nil // not muted, or no longer: a store's expiry may lag
	case until.IsZero():
		return refuse(ErrMuted, "you are muted by an operator: you can read, but not send")
	}
	return refuse(ErrMuted, "you are muted by an operator until %s: you can read, but not send",
		until.UTC().Format("2006-01-02 15:04:05 UTC"))
}

// parting is reason without the parting words of a muted member's /quit,
// which would let it be heard. The caller holds r.mu.
func (r *Room) parting(m *Member, reason Reason) Reason {
	if reason.Kind == ReasonQuit && reason.Detail != "" && r.refuseMuted(m) != nil {
		reason.Detail = ""
	}
	return reason
}

// Identity is who the member is, as its gateway told the room when it
// joined (JoinOptions.Identity).
func (m *Member) Identity() Identity { return m.id }

// Joined is when the member was admitted to the room.
func (m *Member) Joined() time.Time { return m.joined }

// Tell sends the member lines of text as Notice events, in the room's
// order, as /help does: a command's answer. Each line is cleaned and cut
// to MaxLineBytes; at most MaxTellLines are sent. It is charged to flood
// control like any operation.
func (m *Member) Tell(lines ...string) error {
	return m.room.replyLines(m, boundLinesTo(lines, m.room.cfg.MaxLineBytes, MaxTellLines))
}

// replyLines sends m lines, bounded already, as Notice events in the
// room's order (see reply): one operation, charged to flood control.
func (r *Room) replyLines(m *Member, lines []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.startOp(m, false); err != nil {
		return err
	}
	for _, text := range lines {
		r.reply(m, &Event{Kind: Notice, Text: text})
	}
	return nil
}

// Find returns the member called nick (or a look-alike of it), if one is
// present.
func (r *Room) Find(nick string) (MemberInfo, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.byNick[nickKey(nick)]
	if m == nil {
		return MemberInfo{}, false
	}
	return m.info(), true
}

// info is what the room tells of m. The caller holds r.mu.
func (m *Member) info() MemberInfo {
	return MemberInfo{Nick: m.nick, Identity: m.id, Joined: m.joined}
}

// Remove takes every present member that match selects out of the room
// for reason (ReasonKicked or ReasonBanned, whose Detail names the
// operator and why; it is cleaned and cut to Config.MaxLineBytes), and
// returns their nicknames, sorted as Members lists them. Each one's stream
// ends with the reason (Member.Reason), which its gateway tells it, and
// its leave is announced to everyone, even in a room too big to announce
// leaves one by one: a member removed by an operator is never only counted
// in a Presence summary. Its nickname is released, not held (see
// Config.NickGrace): the room meant it to go. A joiner still on its way in
// (its Join being stored) is matched too, and leaves as soon as it has
// arrived. match is called under the room's lock: it must not call the
// room, nor take a lock whose holder may wait on the room (call the room,
// or wait for one that does), or the two deadlock; a read lock on memory
// that nobody holds while calling the room is fine.
func (r *Room) Remove(match func(MemberInfo) bool, reason Reason) []string {
	reason.Detail = r.boundDetail(reason.Detail)
	r.mu.Lock()
	defer r.mu.Unlock()
	var removed []*Member
	for m := range r.members {
		if match(m.info()) {
			removed = append(removed, m)
		}
	}
	for m := range r.arriving {
		if m.removal == (Reason{}) && match(m.info()) {
			m.removal = reason // it leaves once arrived (arrive)
			removed = append(removed, m)
		}
	}
	slices.SortFunc(removed, func(a, b *Member) int { return CompareNicks(a.nick, b.nick) })
	nicks := make([]string, 0, len(removed))
	for _, m := range removed {
		nicks = append(nicks, m.nick)
		r.removeNow(m, reason)
	}
	return nicks
}

// removeNow takes m out of the room for reason, an operator's, and
// announces its leave to everyone, whatever the room's size. The caller
// holds r.mu.
func (r *Room) removeNow(m *Member, reason Reason) {
	if r.detach(m, reason) {
		r.broadcast(&Event{Kind: Leave, From: m.nick, Reason: reason}, nil)
	}
}

// Announce tells every member text as a Notice, addressed to each alone,
// in the room's order (after the public events accepted before it): what
// an operator did. It is cleaned and cut to Config.MaxLineBytes, and not
// stored in the log.
func (r *Room) Announce(text string) {
	text = cutBytes(Clean(text), r.cfg.MaxLineBytes)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || text == "" {
		return
	}
	ev := &Event{Kind: Notice, Time: r.cfg.Now(), Text: text}
	for m := range r.members {
		r.reply(m, ev)
	}
}

// greeting is what Config.Greeting tells a joiner, bounded; nil if the
// room has no greeting. It is called outside the room's locks.
func (r *Room) greeting(nick string, id Identity) []string {
	if r.cfg.Greeting == nil {
		return nil
	}
	return boundLinesTo(r.cfg.Greeting(nick, id), r.cfg.MaxLineBytes, MaxDescriptionLines)
}

// boundLinesTo cleans lines, cuts each to size bytes and keeps at most n
// of them.
func boundLinesTo(lines []string, size, n int) []string {
	out := make([]string, 0, min(len(lines), n))
	for _, line := range lines[:min(len(lines), n)] {
		out = append(out, cutBytes(Clean(line), size))
	}
	return out
}
