package sshgw

import (
	"bytes"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

func TestStallGuardClosesAStuckWriter(t *testing.T) {
	r, w := io.Pipe() // nobody reads r: every write blocks
	defer r.Close()
	var stalls atomic.Int32
	g := newStallGuard(w, 50*time.Millisecond, func() {
		stalls.Add(1)
		w.CloseWithError(io.ErrClosedPipe) // what closing the session does
	})
	done := make(chan error, 1)
	go func() {
		_, err := g.Write([]byte("frame"))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a write nobody read returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a stuck write was never ended")
	}
	if stalls.Load() != 1 {
		t.Errorf("onStall ran %d times, want 1", stalls.Load())
	}
}

// TestStallGuardLeavesAHealthyWriterAlone checks that writes that return
// never leave the stall timer armed. The limit is a minute, a stall no
// healthy write comes near, so a busy machine that pauses the test between
// two lines cannot fake one.
func TestStallGuardLeavesAHealthyWriterAlone(t *testing.T) {
	var buf bytes.Buffer
	var stalls atomic.Int32
	g := newStallGuard(&buf, time.Minute, func() { stalls.Add(1) })
	for i := range 5 {
		g.Write([]byte("frame"))
		if g.timer.Stop() {
			t.Fatalf("the stall timer is still armed after write %d returned", i+1)
		}
	}
	if stalls.Load() != 0 || buf.String() != "frameframeframeframeframe" {
		t.Errorf("stalls %d, output %q", stalls.Load(), buf.String())
	}
}
