package room

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestReasonWords: reasons are worded as they always were on the wire, and
// read back to the same reason.
func TestReasonWords(t *testing.T) {
	for _, tc := range []struct {
		reason Reason
		words  string
	}{
		{Reason{Kind: ReasonQuit}, "quit"},
		{Reason{Kind: ReasonQuit, Detail: "bye"}, "quit: bye"},
		{Reason{Kind: ReasonClosed}, "connection closed"},
		{Reason{Kind: ReasonLost}, "connection lost"},
		{Reason{Kind: ReasonLost, Detail: "reset by peer"}, "connection lost: reset by peer"},
		{Reason{Kind: ReasonSlowConsumer}, "slow consumer"},
		{Reason{Kind: ReasonFlood}, "flooding"},
		{Reason{Kind: ReasonShutdown}, "server shutting down"},
		{Reason{Kind: ReasonProtocol}, "protocol error"},
		{Reason{Kind: ReasonProtocol, Detail: "sent too much without a newline"}, "sent too much without a newline"},
		{Reason{Kind: ReasonOther, Detail: "kicked: spam"}, "kicked: spam"},
		{Reason{Kind: ReasonKicked}, "kicked"},
		{Reason{Kind: ReasonKicked, Detail: "alice: spam"}, "kicked by alice: spam"},
		{Reason{Kind: ReasonKicked, Detail: "alice"}, "kicked by alice"},
		{Reason{Kind: ReasonBanned}, "banned"},
		{Reason{Kind: ReasonBanned, Detail: "alice until 2026-12-01 18:00:00 UTC: spam"}, "banned by alice until 2026-12-01 18:00:00 UTC: spam"},
		{Reason{Kind: ReasonRefused}, "refused"},
		{Reason{Kind: ReasonRefused, Detail: "you are banned until 2026-12-01 18:00:00 UTC: spam"}, "refused: you are banned until 2026-12-01 18:00:00 UTC: spam"},
		{Reason{Kind: ReasonOther, Detail: "kickedby alice"}, "kickedby alice"},
		{Reason{Kind: ReasonOther, Detail: "refused by alice"}, "refused by alice"},
		{Reason{Kind: ReasonOther, Detail: "quit:bye"}, "quit:bye"},
		{Reason{}, ""},
	} {
		if got := tc.reason.String(); got != tc.words {
			t.Errorf("%#v.String() = %q, want %q", tc.reason, got, tc.words)
		}
		if got, _ := tc.reason.AppendText([]byte("(")); string(got) != "("+tc.words {
			t.Errorf("%#v.AppendText = %q, want %q", tc.reason, got, "("+tc.words)
		}
		want := tc.reason
		if want.Kind == ReasonProtocol && want.Detail != "" {
			want = Reason{Kind: ReasonOther, Detail: want.Detail} // its words are its transport's to know
		}
		if got := ParseReason(tc.words); got != want {
			t.Errorf("ParseReason(%q) = %#v, want %#v", tc.words, got, want)
		}
	}
}

// TestReasonClasses: who gets a held nickname and a farewell error, and how
// leaves are counted, follow from the kind alone.
func TestReasonClasses(t *testing.T) {
	for _, tc := range []struct {
		reason      Reason
		involuntary bool
		class       string
	}{
		{Reason{Kind: ReasonQuit, Detail: "bye"}, false, "quit"},
		{Reason{Kind: ReasonShutdown}, false, "server shutting down"},
		{Reason{Kind: ReasonClosed}, true, "disconnected"},
		{Reason{Kind: ReasonLost}, true, "disconnected"},
		{Reason{Kind: ReasonSlowConsumer}, true, "slow consumer"},
		{Reason{Kind: ReasonFlood}, true, "flooding"},
		{Reason{Kind: ReasonProtocol, Detail: "x"}, true, "disconnected"},
		{Reason{Kind: ReasonOther, Detail: "x"}, true, "disconnected"},
		{Reason{Kind: ReasonKicked, Detail: "alice: spam"}, true, "removed by an operator"},
		{Reason{Kind: ReasonBanned, Detail: "alice: spam"}, true, "removed by an operator"},
		{Reason{Kind: ReasonRefused, Detail: "you are banned"}, true, "removed by an operator"},
	} {
		if got := tc.reason.Involuntary(); got != tc.involuntary {
			t.Errorf("%v.Involuntary() = %v", tc.reason, got)
		}
		if got := tc.reason.Class(); got != tc.class {
			t.Errorf("%v.Class() = %q, want %q", tc.reason, got, tc.class)
		}
	}
}

// TestCloseSaysByeWithTheShutdownReason: the room's shutdown notice is a Bye
// carrying the reason every member leaves with.
func TestCloseSaysByeWithTheShutdownReason(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice := mustJoin(t, r, "alice")
	r.Close(ShutdownNotice)
	got := drain(alice)
	if len(got) != 1 || got[0].Kind != Bye || got[0].Text != ShutdownNotice || got[0].Reason != (Reason{Kind: ReasonShutdown}) || got[0].Time.IsZero() {
		t.Fatalf("alice got %q", describe(got))
	}
	if alice.Reason() != got[0].Reason {
		t.Errorf("alice's reason %v, the Bye's %v", alice.Reason(), got[0].Reason)
	}
}

// TestIdentityOwnsByProvenKeyElseAddress: a TLS client certificate is a
// proven key like an SSH key: a nickname held for it goes back only to the
// same certificate, whatever the address.
func TestIdentityOwnsByProvenKeyElseAddress(t *testing.T) {
	r := newTestRoom(t, Config{})
	owner := Identity{Transport: TransportTLS, Address: "192.0.2.1", CertFingerprint: "AB:CD"}
	alice, _ := joinAs(r, "alice", owner)
	alice.Leave(Reason{Kind: ReasonLost})
	for _, other := range []Identity{
		{Transport: TransportTLS, Address: "192.0.2.1"},
		{Transport: TransportTLS, Address: "192.0.2.1", CertFingerprint: "EF:01"},
		{Transport: TransportSSH, Address: "192.0.2.1", KeyFingerprint: "AB:CD"},
	} {
		if _, err := joinAs(r, "alice", other); !errors.Is(err, ErrNickTaken) {
			t.Errorf("%+v took alice's held nick: %v", other, err)
		}
	}
	if _, err := joinAs(r, "alice", Identity{Transport: TransportTLS, Address: "203.0.113.9", CertFingerprint: "AB:CD"}); err != nil {
		t.Errorf("the same certificate from elsewhere: %v", err)
	}
}

// TestIdentityLogsItsFields: the identity is logged as a group of what is
// known.
func TestIdentityLogsItsFields(t *testing.T) {
	var buf strings.Builder
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	logger.Info("joined", "identity", Identity{Transport: TransportSSH, Address: "192.0.2.1", KeyFingerprint: "SHA256:abc"})
	logger.Info("joined", "identity", Identity{Transport: TransportTLS, Address: "192.0.2.2", CertFingerprint: "AB:CD"})
	logger.Info("joined", "identity", Identity{})
	want := "level=INFO msg=joined identity.transport=ssh identity.address=192.0.2.1 identity.key_fingerprint=SHA256:abc\n" +
		"level=INFO msg=joined identity.transport=tls identity.address=192.0.2.2 identity.cert_fingerprint=AB:CD\n" +
		"level=INFO msg=joined identity.transport=unknown\n"
	if buf.String() != want {
		t.Errorf("logged\n%s\nwant\n%s", buf.String(), want)
	}
}

// TestReasonFinal: only an operator's removal and a refusal at the door
// mean the server wants the client to stay out (no reconnecting by
// itself), whatever their Detail; every other reason may be redialled.
func TestReasonFinal(t *testing.T) {
	for kind := ReasonOther; kind <= ReasonRefused+1; kind++ {
		want := kind == ReasonKicked || kind == ReasonBanned || kind == ReasonRefused
		for _, detail := range []string{"", "alice: spam"} {
			r := Reason{Kind: kind, Detail: detail}
			if got := r.Final(); got != want {
				t.Errorf("%#v.Final() = %v, want %v", r, got, want)
			}
			if want && ParseReason(r.String()) != r {
				t.Errorf("ParseReason(%q) = %#v, want %#v", r.String(), ParseReason(r.String()), r)
			}
		}
	}
}

// TestFarewellWords: a final reason is worded for the one sent away; any
// other reason has no such words.
func TestFarewellWords(t *testing.T) {
	for _, tc := range []struct {
		reason Reason
		words  string
	}{
		{Reason{Kind: ReasonKicked, Detail: "alice: spam"}, "You were kicked by alice: spam."},
		{Reason{Kind: ReasonKicked}, "You were kicked."},
		{Reason{Kind: ReasonBanned, Detail: "alice until 2026-12-01 18:00:00 UTC: spam!"}, "You were banned by alice until 2026-12-01 18:00:00 UTC: spam!"},
		{Reason{Kind: ReasonBanned}, "You were banned."},
		{Reason{Kind: ReasonRefused, Detail: "you are banned until 2026-12-01 18:00:00 UTC: spam"}, "You are banned until 2026-12-01 18:00:00 UTC: spam."},
		{Reason{Kind: ReasonRefused, Detail: "é"}, "é."},
		{Reason{Kind: ReasonRefused}, "The server refused you."},
		{Reason{Kind: ReasonQuit, Detail: "bye"}, ""},
		{Reason{Kind: ReasonOther, Detail: "kicked by alice"}, ""},
		{Reason{Kind: ReasonLost}, ""},
	} {
		if got := tc.reason.Farewell(); got != tc.words {
			t.Errorf("%#v.Farewell() = %q, want %q", tc.reason, got, tc.words)
		}
	}
}
