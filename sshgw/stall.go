package sshgw

import (
	"io"
	"sync"
	"time"
)

// stallGuard is a session's output that notices when a write stays blocked
// longer than limit, as it does when the client stops reading: SSH flow
// control then holds the write forever, with the program, its goroutines and
// its memory. onStall runs on another goroutine and should close the
// session, which ends the write; it may run more than once.
type stallGuard struct {
	w     io.Writer
	limit time.Duration

	mu       sync.Mutex
	inFlight int
	timer    *time.Timer // armed while any write is in progress
}

func newStallGuard(w io.Writer, limit time.Duration, onStall func()) *stallGuard {
	g := &stallGuard{w: w, limit: limit, timer: time.AfterFunc(time.Hour, onStall)}
	g.timer.Stop()
	return g
}

// Write writes b, and calls onStall if writing takes longer than the limit.
func (g *stallGuard) Write(b []byte) (int, error) {
	g.mu.Lock()
	if g.inFlight++; g.inFlight == 1 {
		g.timer.Reset(g.limit)
	}
	g.mu.Unlock()
	n, err := g.w.Write(b)
	g.mu.Lock()
	if g.inFlight--; g.inFlight == 0 {
		g.timer.Stop()
	}
	g.mu.Unlock()
	return n, err
}
