package jetlog

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLogIDChangesOnRestore: a copy of the store (a backup restored, which
// numbers events again from the copy's end) gets a LogID of its own, the
// same at every start after, and a copy of that copy another; the store
// itself keeps its LogID, across restarts too, and a store from before
// the record keeps the LogID it had (the record is written at its next
// start). Before the fix, a restored store had the original's LogID, so a
// client resuming past the copy's end skipped the events numbered again.
func TestLogIDChangesOnRestore(t *testing.T) {
	orig := t.TempDir()
	l := open(t, orig, Options{})
	appendChats(t, l, 3)
	id := l.LogID()
	l.Close()

	backup := filepath.Join(t.TempDir(), "backup")
	if err := copyTree(orig, backup); err != nil {
		t.Fatal(err)
	}
	l = open(t, orig, Options{})
	appendChats(t, l, 2) // the room goes on past the backup: 4, 5
	if got := l.LogID(); got != id {
		t.Fatalf("LogID %q after a restart, was %q", got, id)
	}
	l.Close()

	restored := filepath.Join(t.TempDir(), "restored")
	if err := copyTree(backup, restored); err != nil {
		t.Fatal(err)
	}
	l = open(t, restored, Options{})
	rid := l.LogID()
	if seq := appendChats(t, l, 1); seq != 4 || rid == id {
		t.Fatalf("the restored store numbers the next event %d under LogID %q, the original's %q: want 4 under a new name", seq, rid, id)
	}
	l.Close()
	l = open(t, restored, Options{})
	if got := l.LogID(); got != rid {
		t.Errorf("the restored store's LogID %q after a restart, was %q", got, rid)
	}
	l.Close()

	again := filepath.Join(t.TempDir(), "again")
	if err := copyTree(restored, again); err != nil {
		t.Fatal(err)
	}
	if got := open(t, again, Options{}).LogID(); got == rid || got == id {
		t.Errorf("a copy of the restored store has LogID %q, one it had before", got)
	}

	// A store from before the record: its LogID is the one it had.
	if err := os.Remove(filepath.Join(orig, copyName)); err != nil {
		t.Fatal(err)
	}
	if got := open(t, orig, Options{}).LogID(); got != id {
		t.Errorf("a store without the record has LogID %q, was %q", got, id)
	}
}
