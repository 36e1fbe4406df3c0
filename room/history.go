package room

// history is a fixed-size ring of the most recent public events.
type history struct {
	ring  []*Event
	next  int // where the next event goes
	count int
}

func newHistory(size int) history {
	return history{ring: make([]*Event, size)}
}

func (h *history) add(ev *Event) {
	h.ring[h.next] = ev
	h.next = (h.next + 1) % len(h.ring)
	h.count = min(h.count+1, len(h.ring))
}

// events returns the recorded events, oldest first.
func (h *history) events() []*Event {
	out := make([]*Event, 0, h.count)
	start := (h.next - h.count + len(h.ring)) % len(h.ring)
	for i := range h.count {
		out = append(out, h.ring[(start+i)%len(h.ring)])
	}
	return out
}
