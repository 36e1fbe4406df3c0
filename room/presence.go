package room

import (
	"slices"
	"time"
)

// presence counts the joins and leaves of a big room between two Presence
// summaries. It is guarded by Room.mu.
type presence struct {
	joined, left int
	timer        *time.Timer // the pending summary; nil when none is due
}

// stop cancels the pending summary, if any.
func (p *presence) stop() {
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
}

// quiet reports whether a room of n members, counting the one who comes or
// goes, is too big to announce joins and leaves one by one.
func (r *Room) quiet(n int) bool { return n > r.cfg.QuietJoinsAbove }

// notePresence counts joins and leaves for the next summary and makes sure
// one is due: one room-wide timer, armed only while there is something to
// sum up. The caller holds r.mu.
func (r *Room) notePresence(joined, left int) {
	r.presence.joined += joined
	r.presence.left += left
	if r.presence.timer == nil && !r.closed {
		r.presence.timer = time.AfterFunc(r.cfg.PresenceEvery, r.summarisePresence)
	}
}

// summarisePresence broadcasts the joins and leaves counted since the last
// summary. Members it removes as slow consumers are counted for the next.
func (r *Room) summarisePresence() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.presence.timer = nil
	p := &r.presence
	if r.closed || p.joined == 0 && p.left == 0 {
		return
	}
	ev := &Event{Kind: Presence, Joined: p.joined, Left: p.left, Count: len(r.members)}
	p.joined, p.left = 0, 0
	r.broadcast(ev, nil)
}

// roster is the members' nicknames in the order Members lists them.
type roster []string

func (ro *roster) add(nick string) {
	i, _ := slices.BinarySearchFunc(*ro, nick, CompareNicks)
	*ro = slices.Insert(*ro, i, nick)
}

func (ro *roster) remove(nick string) {
	if i, found := slices.BinarySearchFunc(*ro, nick, CompareNicks); found {
		*ro = slices.Delete(*ro, i, i+1)
	}
}
