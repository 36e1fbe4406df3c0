package room

import (
	"fmt"
	"strings"
	"testing"
)

// TestCryptoShowsWhatTheGatewayDescribes: /crypto and its alias /tls show
// the member the lines its gateway describes (JoinOptions.Describe), to
// it alone, cleaned, each cut to the line limit and at most
// MaxDescriptionLines of them; a member whose gateway describes nothing is
// told so.
func TestCryptoShowsWhatTheGatewayDescribes(t *testing.T) {
	r := newTestRoom(t, Config{MaxLineBytes: 64})
	calls := 0
	many := make([]string, MaxDescriptionLines+10)
	for i := range many {
		many[i] = fmt.Sprintf("line %d", i)
	}
	many[0] = "protocol: \x1b[2JTLS 1.3\r\n" + strings.Repeat("x", 200)
	alice, err := r.Join("alice", JoinOptions{Describe: func() []string { calls++; return many }})
	if err != nil {
		t.Fatal(err)
	}
	drain(alice)
	bob := mustJoin(t, r, "bob")
	drain(alice)

	for _, line := range []string{"/crypto", "/TLS"} {
		alice.Send(line)
		got := drain(alice)
		if len(got) != MaxDescriptionLines {
			t.Fatalf("%s: %d events, want %d", line, len(got), MaxDescriptionLines)
		}
		for _, ev := range got {
			if ev.Kind != Notice || len(ev.Text) > 64 || strings.ContainsAny(ev.Text, "\x1b\r\n") {
				t.Errorf("%s: event %v %q is not a clean notice of at most 64 bytes", line, ev.Kind, ev.Text)
			}
		}
		if !strings.HasPrefix(got[0].Text, "protocol: ") || got[1].Text != "line 1" {
			t.Errorf("%s: first lines %q, %q", line, got[0].Text, got[1].Text)
		}
	}
	if calls != 2 {
		t.Errorf("Describe called %d times for two commands", calls)
	}
	if ev := drain(bob); len(ev) != 0 {
		t.Errorf("bob was shown alice's description: %q", describe(ev))
	}
	bob.Send("/crypto")
	assertEvents(t, bob, "notice "+NoDescription)
}
