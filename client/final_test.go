package client

import (
	"bufio"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"chatd/room"
	"chatd/tlsgw"
)

// rest returns the events left on a session's stream once it ends.
func rest(t *testing.T, events <-chan *room.Event) []*room.Event {
	t.Helper()
	var got []*room.Event
	timeout := time.After(waitTime)
	for {
		select {
		case ev, open := <-events:
			if !open {
				return got
			}
			got = append(got, ev)
		case <-timeout:
			t.Fatalf("the session did not end; events so far: %d", len(got))
		}
	}
}

// TestRedialerDoesNotReconnectAfterAKick: a member an operator removed
// (Room.Remove, on a real gateway) is told that the client will not
// reconnect, then shown the server's farewell as its last event; the
// session ends with the kick as its reason, and nothing dials again.
func TestRedialerDoesNotReconnectAfterAKick(t *testing.T) {
	ts := startServer(t, tlsgw.Config{})
	trust := Trust{CAFile: ts.caFile(t)}
	tlsCfg, err := trust.ClientTLSConfig(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Addr: ts.addr, Nick: "mallory", TLS: tlsCfg}
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRedialer(context.Background(), RedialConfig{Conn: cfg, Trust: trust, Reconnect: true, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}, c)
	defer r.Close()
	nextWhere(t, r.Events(), "the member list", func(ev *room.Event) bool { return ev.Kind == room.Members })
	kicked := room.Reason{Kind: room.ReasonKicked, Detail: "alice: spam"}
	if got := ts.room.Remove(func(mi room.MemberInfo) bool { return mi.Nick == "mallory" }, kicked); len(got) != 1 {
		t.Fatalf("Remove = %q", got)
	}
	got := rest(t, r.Events())
	if len(got) < 2 {
		t.Fatalf("after the kick: %d events, want the notice and the farewell", len(got))
	}
	notice, bye := got[len(got)-2], got[len(got)-1]
	if notice.Kind != room.Notice || notice.Text != FinalText {
		t.Errorf("before the farewell: %v %q, want the notice %q", notice.Kind, notice.Text, FinalText)
	}
	if bye.Kind != room.Bye || bye.Reason != kicked {
		t.Errorf("last event: %v %#v, want the farewell of the kick", bye.Kind, bye.Reason)
	}
	if r.Reason() != kicked {
		t.Errorf("Reason() = %#v, want %#v", r.Reason(), kicked)
	}
	if r.Link().Down || ts.room.Len() != 0 {
		t.Errorf("after the session ended: Link %+v, %d members", r.Link(), ts.room.Len())
	}
}

// TestRedialerStopsWhenTurnedAwayAtTheDoor: a session that lost its
// connection redials, and the server now refuses it at the door (a ban):
// Dial fails with a ByeError carrying the refusal, the session says it
// will not reconnect, shows the refusal last and ends, without dialling
// again.
func TestRedialerStopsWhenTurnedAwayAtTheDoor(t *testing.T) {
	const words = "you are banned until 2026-12-01 18:00:00 UTC: spam"
	var conns atomic.Int32
	addr, trust := startScriptedServer(t, func(w *bufio.Writer, nick string) {
		if conns.Add(1) == 1 {
			w.WriteString("[12:00:00] *** " + nick + " joined\n[12:00:00] *** 1 member: " + nick + "\n")
			return // and the connection drops
		}
		w.WriteString("!!! disconnected: refused: " + words + "\n")
	})
	tlsCfg, err := trust.ClientTLSConfig(addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Addr: addr, Nick: "mallory", TLS: tlsCfg}
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRedialer(context.Background(), RedialConfig{Conn: cfg, Trust: trust, Reconnect: true, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}, c)
	defer r.Close()
	got := rest(t, r.Events())
	refused := room.Reason{Kind: room.ReasonRefused, Detail: words}
	if len(got) < 2 || got[len(got)-2].Text != FinalText || got[len(got)-1].Kind != room.Bye || got[len(got)-1].Reason != refused {
		t.Fatalf("the session ended with %q; want the notice, then the refusal", describeAll(got))
	}
	if r.Reason() != refused {
		t.Errorf("Reason() = %#v", r.Reason())
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2: no dialling after the refusal", n)
	}

	_, err = Dial(context.Background(), cfg)
	var bye *ByeError
	if !errors.As(err, &bye) || bye.Reason != refused || bye.Nick != "mallory" {
		t.Errorf("Dial when refused: %v", err)
	}
}

// describeAll words events for failures.
func describeAll(events []*room.Event) []string {
	out := make([]string, 0, len(events))
	for _, ev := range events {
		out = append(out, ev.Kind.String()+" "+ev.Text+" "+ev.Reason.String())
	}
	return out
}
