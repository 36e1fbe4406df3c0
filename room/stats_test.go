package room

import (
	"strings"
	"testing"
)

func TestStatsCountWhatHappens(t *testing.T) {
	r := newTestRoom(t, Config{HistorySize: 4, OutboxSize: 24, FloodBurst: 2, FloodKick: 100, FloodQueue: 1})
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	sleeper := mustJoin(t, r, "sleeper")
	drain(alice)
	drain(bob)

	alice.Send("one")                                    // 2 deliveries
	alice.Send("/msg bob two")                           // 2 deliveries (to bob, and the receipt)
	alice.Send("three")                                  // queued: flood control
	bob.Send(strings.Repeat("x", DefaultMaxLineBytes+1)) // too long
	bob.Send("/nope")                                    // bad command
	bob.Send("/quit")
	for range 15 { // not 17: overflowKickQueues queues of 1 line dropped at once disconnect
		alice.Send("/who") // alice's burst is spent and her queue full: each is rejected as flood
	}
	st := r.Stats()
	if st.Joins != 3 || st.Members != 2 || st.Messages != 2 {
		t.Errorf("joins %d, members %d, messages %d; want 3, 2, 2", st.Joins, st.Members, st.Messages)
	}
	if st.Leaves["quit"] != 1 {
		t.Errorf("leaves %v", st.Leaves)
	}
	if st.Rejected[RejectFlood] != 15 || st.Rejected[RejectTooLong] != 1 || st.Rejected[RejectCommand] != 1 || st.Queued != 1 {
		t.Errorf("rejected %v, queued %d", st.Rejected, st.Queued)
	}
	if st.Deliveries < 4 {
		t.Errorf("deliveries %d", st.Deliveries)
	}
	sleeper.Leave(Reason{Kind: ReasonClosed})
	if got := r.Stats().Leaves["disconnected"]; got != 1 {
		t.Errorf("leaves after a closed connection: %v", r.Stats().Leaves)
	}
}

func TestLeaveClass(t *testing.T) {
	for reason, want := range map[Reason]string{
		{Kind: ReasonQuit}: "quit", {Kind: ReasonQuit, Detail: "bye"}: "quit", {Kind: ReasonSlowConsumer}: "slow consumer",
		{Kind: ReasonFlood}: "flooding", {Kind: ReasonShutdown}: "server shutting down", {Kind: ReasonLost}: "disconnected",
	} {
		if got := reason.Class(); got != want {
			t.Errorf("%q.Class() = %q, want %q", reason, got, want)
		}
	}
}
