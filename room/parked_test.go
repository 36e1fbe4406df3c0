package room

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestStalledFeedWelcomesJoinerLate: the feed stalls while bob joins on
// a node; within joinWait he is shown his history, his own Join and the
// member list. When the feed brings his Join later, the others are shown
// it and he is not shown it again.
func TestStalledFeedWelcomesJoinerLate(t *testing.T) {
	l := newSharedLog()
	r := newTestRoom(t, Config{Log: l, Bus: &stubBus{}, joinWait: 200 * time.Millisecond, afterFunc: realAfterFunc})
	t.Cleanup(func() { r.Close("done") })
	mustDelivered(t, r)
	alice := watch(t, r, "alice", JoinOptions{})
	feedLog(t, r, l)
	alice.until(t, "her welcome", func(evs []*Event) bool { return slices.ContainsFunc(evs, isKind(Members)) })
	alice.events = nil
	l.Append(&Event{Kind: Chat, From: "far", Text: "not fed yet"}) // another node's
	start := time.Now()
	bob := watch(t, r, "bob", JoinOptions{})
	if got := drain(bob.m); len(got) != 0 {
		t.Fatalf("bob was shown %q before his welcome", describe(got))
	}
	evs := bob.until(t, "his welcome", func(evs []*Event) bool { return slices.ContainsFunc(evs, isKind(Members)) })
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("bob was welcomed after %v, before joinWait", waited)
	}
	checkOwnJoin(t, "bob", evs)
	if k := evs[0].Kind; k != HistoryBegin && k != Join || evs[len(evs)-1].Kind != Members {
		t.Errorf("bob was shown %q, want his history, his Join, the member list", describe(evs))
	}
	bob.events = nil
	feedLog(t, r, l) // the feed comes back: the far chat, then bob's Join
	alice.until(t, "bob's Join", func(evs []*Event) bool {
		return slices.ContainsFunc(evs, func(ev *Event) bool { return ev.Kind == Join && ev.From == "bob" })
	})
	evs = bob.until(t, "the far chat", hasText("not fed yet"))
	if slices.ContainsFunc(evs, isKind(Join)) {
		t.Errorf("bob was shown his Join again: %q", describe(evs))
	}
}

// TestParkedMemberToldNothingBeforeItsHistory: what is told to a joiner
// alone while it waits for its Join (private messages, the room turning
// read-only and writable again) reaches it only after its welcome: the
// private messages, up to maxParked, the rest counted as missed; the
// read-only notices not at all (the room is writable at its welcome).
func TestParkedMemberToldNothingBeforeItsHistory(t *testing.T) {
	l := newSharedLog()
	r := newTestRoom(t, Config{Log: l, Bus: &stubBus{}, joinWait: time.Minute})
	t.Cleanup(func() { r.Close("done") })
	mustDelivered(t, r)
	bob := watch(t, r, "bob", JoinOptions{})
	const sent = maxParked + 4
	for i := range sent {
		from := Sender{Nick: fmt.Sprintf("far%d", i), Identity: Identity{Address: fmt.Sprintf("192.0.2.%d", i+1)}}
		if _, err := r.DeliverPrivate(from, "bob", "psst"); err != nil {
			t.Fatalf("DeliverPrivate: %v", err)
		}
	}
	r.mu.Lock() // the room turns read-only, then writable (readonly.go)
	r.tellAll(&Event{Kind: Notice, Text: ReadOnlyNotice, Store: StoreReadOnly})
	r.tellAll(&Event{Kind: Notice, Text: WritableNotice, Store: StoreWritable})
	r.mu.Unlock()
	if got := drain(bob.m); len(got) != 0 {
		t.Fatalf("bob was shown %q before his history", describe(got))
	}
	feedLog(t, r, l)
	evs := bob.until(t, "what he missed", func(evs []*Event) bool {
		return slices.ContainsFunc(evs, func(ev *Event) bool {
			return ev.Kind == Notice && strings.Contains(ev.Text, fmt.Sprintf("%d events were skipped", sent-maxParked))
		})
	})
	if k := evs[0].Kind; k != HistoryBegin && k != Join {
		t.Errorf("bob was shown %q first, want his history or his Join", describe(evs[:1]))
	}
	checkOwnJoin(t, "bob", evs)
	members := slices.IndexFunc(evs, isKind(Members))
	privates := 0
	for i, ev := range evs {
		if ev.Kind == Private {
			privates++
			if i < members {
				t.Errorf("a private message came before bob's member list: %q", describe(evs))
			}
		}
		if ev.Store != StoreNoState {
			t.Errorf("bob was told %q, a notice of the past", describe(evs[i:i+1]))
		}
	}
	if privates != maxParked {
		t.Errorf("bob was shown %d private messages, want %d", privates, maxParked)
	}
}

func isKind(k Kind) func(*Event) bool {
	return func(ev *Event) bool { return ev.Kind == k }
}
