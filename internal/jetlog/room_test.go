package jetlog

import (
	"testing"

	"chatd/room"
)

// TestRoomRemembers: a room on the JetStream log, closed with its log and
// opened again on the same store, replays to a joiner what was said before,
// in order, and numbers new events after it.
func TestRoomRemembers(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	r := room.New(room.Config{Log: l})
	alice, err := r.Join("alice", room.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"one", "two"} {
		if err := alice.Say(text); err != nil {
			t.Fatal(err)
		}
	}
	r.Close("restarting")
	l.Close()

	l = open(t, dir, Options{})
	r = room.New(room.Config{Log: l})
	defer r.Close("")
	bob, err := r.Join("bob", room.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := bob.Take(nil, 100)
	var said []string
	var inHistory bool
	var last uint64
	for _, ev := range evs {
		switch ev.Kind {
		case room.HistoryBegin:
			inHistory = true
		case room.HistoryEnd:
			inHistory = false
		case room.Chat:
			if inHistory {
				said = append(said, ev.From+": "+ev.Text)
			}
		}
		if ev.Seq != 0 {
			if ev.Seq <= last {
				t.Fatalf("Seq %d after %d", ev.Seq, last)
			}
			last = ev.Seq
		}
	}
	if len(said) != 2 || said[0] != "alice: one" || said[1] != "alice: two" {
		t.Fatalf("bob's history holds %q; events %v", said, kinds(evs))
	}
}

func kinds(evs []*room.Event) []string {
	s := make([]string, len(evs))
	for i, ev := range evs {
		s[i] = ev.Kind.String()
	}
	return s
}
