package client

import (
	"context"
	"strings"
	"testing"
	"time"

	"chatd/room"
	"chatd/tlsgw"
)

// nextNotice returns the next Notice whose text contains want.
func nextNotice(t *testing.T, events <-chan *room.Event, want string) *room.Event {
	t.Helper()
	return nextWhere(t, events, "notice "+want, func(ev *room.Event) bool {
		return ev.Kind == room.Notice && strings.Contains(ev.Text, want)
	})
}

func TestRedialerReconnectsAfterServerRestart(t *testing.T) {
	first := startServer(t, tlsgw.Config{})
	trust := Trust{CAFile: first.caFile(t)}
	tlsCfg, err := trust.ClientTLSConfig(first.addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Addr: first.addr, Nick: "alice", TLS: tlsCfg}
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRedialer(context.Background(), RedialConfig{Conn: cfg, Trust: trust, Reconnect: true, Echo: true, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}, c)
	defer r.Close()
	if text, warning := r.Status(); text != "TLS 1.3 · verified (CA)" || warning {
		t.Errorf("Status() = %q, %v while connected", text, warning)
	}

	first.room.Close("The server is shutting down. Goodbye!")
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	first.srv.Shutdown(ctx)
	// The session is away: Link says why and when it tries again; no
	// notice per attempt reaches the scrollback.
	down := waitLink(t, r, func(l Link) bool { return l.Down && !l.RetryAt.IsZero() })
	if down.Why != "server shutting down" {
		t.Errorf("Link().Why = %q", down.Why)
	}
	if r.Connected() {
		t.Error("Connected() while the server is down")
	}
	if text, warning := r.Status(); text != "disconnected" || !warning {
		t.Errorf("Status() = %q, %v while down", text, warning)
	}
	r.Send("lost in the void")
	if ev := nextEvent(t, r.Events(), room.Error); !strings.Contains(ev.Text, "not connected") {
		t.Errorf("sending while down: %q", ev.Text)
	}

	// The redialer rejoins as soon as the new server listens. Bob joins
	// after that, so that what he is shown does not depend on who wins:
	// alice is in the member list he gets, and she is told he came.
	waitLink(t, r, func(l Link) bool { return l.Down && l.Why != "server shutting down" }) // an attempt failed
	second := startServerWith(t, tlsgw.Config{}, first.certPEM, first.keyPEM, first.addr)
	back := nextWhere(t, r.Events(), "a notice", func(ev *room.Event) bool { return ev.Kind == room.Notice })
	if !strings.HasPrefix(back.Text, "reconnected after ") || !strings.HasSuffix(back.Text, " (server shutting down)") {
		t.Errorf("the first notice after the loss is %q, want the one that says it reconnected", back.Text)
	}
	if !r.Connected() || r.Link().Down {
		t.Errorf("Connected() %v, Link() %+v after the reconnected notice", r.Connected(), r.Link())
	}
	bob := second.connect(t)
	bob.send("bob")
	bob.expect("*** bob joined")
	if members, _ := bob.expect(" member"); !strings.HasSuffix(members, "*** 2 members: alice, bob") {
		t.Errorf("bob was shown %q on joining; want alice listed", members)
	}
	nextWhere(t, r.Events(), "bob's join", func(ev *room.Event) bool {
		return ev.Kind == room.Join && ev.From == "bob"
	})
	r.Send("back again")
	bob.expect("<alice> back again")
	if ev := nextEvent(t, r.Events(), room.Chat); ev.From != "alice" || ev.Text != "back again" {
		t.Errorf("echo of own line: %+v", *ev)
	}
	r.Send("/me waves")
	if ev := nextEvent(t, r.Events(), room.Action); ev.From != "alice" || ev.Text != "waves" {
		t.Errorf("echo of own action: %+v", *ev)
	}

	r.Send("/tls")
	nextNotice(t, r.Events(), "key exchange: X25519MLKEM768")
	nextNotice(t, r.Events(), "verification: verified (CA): chain verified against "+trust.CAFile)

	r.Send("/quit")
	for range r.Events() {
	}
	if r.Reason() != (room.Reason{Kind: room.ReasonQuit}) {
		t.Errorf("Reason() = %q after /quit", r.Reason())
	}
}

// waitLink waits for the session's Link to satisfy ok and returns it.
func waitLink(t *testing.T, r *Redialer, ok func(Link) bool) Link {
	t.Helper()
	timeout := time.After(waitTime)
	for {
		if l := r.Link(); ok(l) {
			return l
		}
		select {
		case <-r.LinkChanged():
		case <-timeout:
			t.Fatalf("Link() is %+v after %v", r.Link(), waitTime)
		}
	}
}

func TestRedialerWithoutReconnectEndsWithTheConnection(t *testing.T) {
	ts := startServer(t, tlsgw.Config{})
	trust := Trust{CAFile: ts.caFile(t)}
	tlsCfg, _ := trust.ClientTLSConfig(ts.addr)
	cfg := Config{Addr: ts.addr, Nick: "alice", TLS: tlsCfg}
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRedialer(context.Background(), RedialConfig{Conn: cfg, Trust: trust}, c)
	defer r.Close()
	ts.room.Close("The server is shutting down. Goodbye!")
	for range r.Events() {
	}
	if r.Reason() != (room.Reason{Kind: room.ReasonShutdown}) {
		t.Errorf("Reason() = %q", r.Reason())
	}
}

// TestLeadingSpaceCryptoGoesToTheRoom pins a decision: " /tls" (with a
// leading space) is not the command, as in the room, where " /help" is a
// chat line since issue 13: chat sends it to the room instead of
// answering it locally. "/tls" and "/CRYPTO" are answered locally.
func TestLeadingSpaceCryptoGoesToTheRoom(t *testing.T) {
	for line, want := range map[string]bool{"/tls": true, "/CRYPTO": true, "/crypto now": true, " /tls": false, " /crypto": false, "//tls": false} {
		if got := isCrypto(line); got != want {
			t.Errorf("isCrypto(%q) = %v, want %v", line, got, want)
		}
	}
	ts := startServer(t, tlsgw.Config{})
	bob := ts.connect(t)
	bob.send("bob")
	bob.expect("*** bob joined")
	trust := Trust{CAFile: ts.caFile(t)}
	tlsCfg, _ := trust.ClientTLSConfig(ts.addr)
	cfg := Config{Addr: ts.addr, Nick: "alice", TLS: tlsCfg}
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRedialer(context.Background(), RedialConfig{Conn: cfg, Trust: trust}, c)
	defer r.Close()
	bob.expect("*** alice joined")
	r.Send(" /tls")
	if line, _ := bob.expect("<alice>"); !strings.Contains(line, "/tls") {
		t.Errorf("bob got %q, want alice's line \" /tls\"", line)
	}
}
