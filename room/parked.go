package room

// maxParked bounds the events told to a member alone while it awaits its
// Join (Member.parked): replies to its commands, private messages.
const maxParked = 16

// park holds ev, told to m while m awaits its Join from the feed, until
// its welcome: nothing reaches a member before its history. A read-only
// or writable notice is dropped, its welcome telling the room's state as
// it is then. It reports whether ev was kept. The caller holds r.mu.
func (r *Room) park(m *Member, ev *Event) bool {
	if ev.Store == StoreReadOnly || ev.Store == StoreWritable {
		return true
	}
	if len(m.parked) >= maxParked {
		m.parkedLost++
		r.count(false)
		return false
	}
	m.parked = append(m.parked, ev)
	return true
}

// unpark shows m, just welcomed, what was told to it while it awaited its
// Join, and counts those that did not fit as missed (it is told how many).
// The caller holds r.mu.
func (r *Room) unpark(m *Member) {
	parked, lost := m.parked, m.parkedLost
	m.parked, m.parkedLost = nil, 0
	for _, ev := range parked {
		r.tell(m, ev)
	}
	if lost > 0 {
		m.missed += lost
		m.scheduleCatchUp()
	}
}
