package access

import (
	"errors"
	"testing"
	"time"
)

// TestOwnWritesOrder: a change of another node that the watch tells
// while a write of this node to the same record is not told back yet was
// made before it, and does not undo it; if the write is never told back,
// the change held back is applied after ownWait.
func TestOwnWritesOrder(t *testing.T) {
	f := newFixture(t, options{})
	d := f.d
	motd := func(text string) []byte {
		return encode(motdRecord{V: recordVersion, Text: text, By: "x", Since: f.clock.now()})
	}
	shown := func() string {
		d.mu.RLock()
		defer d.mu.RUnlock()
		return d.v.motd.Text
	}
	ours, theirs := motd("ours"), motd("theirs")
	write := func(val []byte) {
		t.Helper()
		if err := d.noteOwn(Settings, motdKey, ownWrite{val: string(val)}, func() error { return nil }); err != nil {
			t.Fatal(err)
		}
		d.mu.Lock()
		d.v.motd = motdRecord{Text: "ours"}
		d.mu.Unlock()
	}

	write(ours)
	d.applyChange(Settings, motdKey, theirs, false)
	if got := shown(); got != "ours" {
		t.Fatalf("an older change of another node undid ours: %q", got)
	}
	d.applyChange(Settings, motdKey, ours, false)
	d.giveUpOwn(time.Now().Add(ownWait))
	if got := shown(); got != "ours" {
		t.Fatalf("after ours was told back: %q", got)
	}
	d.applyChange(Settings, motdKey, theirs, false)
	if got := shown(); got != "theirs" {
		t.Fatalf("a later change of another node was not applied: %q", got)
	}

	write(ours)
	d.applyChange(Settings, motdKey, nil, true)
	if got := shown(); got != "ours" {
		t.Fatalf("an older delete undid ours: %q", got)
	}
	d.giveUpOwn(time.Now().Add(ownWait))
	if got := shown(); got != "" {
		t.Fatalf("the delete held back behind a write never told back was not applied: %q", got)
	}

	// a change held back behind a write that then fails is applied at once
	d.mu.Lock()
	d.v.motd = motdRecord{Text: "ours"}
	d.mu.Unlock()
	failing := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- d.noteOwn(Settings, motdKey, ownWrite{val: string(ours)}, func() error { <-failing; return errors.New("store down") })
	}()
	eventually(t, "the write is noted", func() bool {
		d.mu.RLock()
		defer d.mu.RUnlock()
		return d.own[ownKey{Settings, motdKey}] != nil
	})
	d.applyChange(Settings, motdKey, theirs, false)
	if got := shown(); got != "ours" {
		t.Fatalf("a change held back was applied before the write failed: %q", got)
	}
	close(failing)
	if err := <-done; err == nil {
		t.Fatal("the failing write did not fail")
	}
	if got := shown(); got != "theirs" {
		t.Fatalf("the change held back behind a failed write: %q, want theirs", got)
	}
}
