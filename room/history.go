package room

import "sort"

// history is a fixed-size ring of the most recent public events, in
// sequence order: MemoryLog's memory.
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

// since returns, oldest first, the last n recorded events whose sequence
// number is above after.
func (h *history) since(after uint64, n int) []*Event {
	k := 0 // how many to return: counted back from the newest
	for k < min(n, h.count) && h.at(h.count-1-k).Seq > after {
		k++
	}
	if k == 0 {
		return nil
	}
	out := make([]*Event, k)
	for i := range k {
		out[i] = h.at(h.count - k + i)
	}
	return out
}

// before returns, oldest first, the last n recorded events whose sequence
// number is below seq.
func (h *history) before(seq uint64, n int) []*Event {
	// The recorded events below seq are h.at(0..end-1): sequence numbers
	// increase, so a binary search finds end.
	end := sort.Search(h.count, func(i int) bool { return h.at(i).Seq >= seq })
	k := min(max(n, 0), end)
	if k == 0 {
		return nil
	}
	out := make([]*Event, k)
	for i := range k {
		out[i] = h.at(end - k + i)
	}
	return out
}

// at returns the i-th recorded event, oldest first.
func (h *history) at(i int) *Event {
	start := h.next - h.count + len(h.ring)
	return h.ring[(start+i)%len(h.ring)]
}
