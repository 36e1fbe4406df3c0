package client

import (
	"errors"
	"io"
	"testing"
	"time"

	"chatd/proto"
	"chatd/room"
)

// TestEndReasonComesFromTheLastEvent: why a connection ended is read from
// the kind and reason of the server's last event, decoded by the codec,
// and from the read error; the words shown are those the user always saw.
func TestEndReasonComesFromTheLastEvent(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		last  string // "" for none
		err   error
		kind  room.ReasonKind
		words string
	}{
		{"*** Goodbye.", io.EOF, room.ReasonQuit, "quit"},
		{"[11:59:59] *** The server is shutting down. Goodbye!", io.EOF, room.ReasonShutdown, "server shutting down"},
		{"!!! disconnected: you were not reading fast enough (slow consumer)", io.EOF, room.ReasonSlowConsumer,
			"disconnected: you were not reading fast enough (slow consumer)"},
		{"!!! disconnected: flooding (too many lines too fast)", io.EOF, room.ReasonFlood, "disconnected: flooding (too many lines too fast)"},
		{"!!! disconnected: sent too much without a newline", io.EOF, room.ReasonProtocol, "disconnected: sent too much without a newline"},
		{"!!! something went wrong", io.EOF, room.ReasonOther, "something went wrong"},
		{"!!! disconnected: kicked by alice: spam", io.EOF, room.ReasonKicked, "kicked by alice: spam"},
		{"!!! disconnected: banned by alice: spam", io.EOF, room.ReasonBanned, "banned by alice: spam"},
		{"!!! disconnected: refused: you are banned", io.EOF, room.ReasonRefused, "refused: you are banned"},
		{"*** the server is shutting down soon", io.EOF, room.ReasonClosed, "the server closed the connection"},
		{"<bob> Goodbye.", io.EOF, room.ReasonClosed, "the server closed the connection"},
		{"", io.EOF, room.ReasonClosed, "the server closed the connection"},
		{"<bob> hi", errors.New("read: reset"), room.ReasonLost, "connection lost: read: reset"},
		{"*** Goodbye.", errEndlessLine, room.ReasonProtocol, errEndlessLine.Error()},
	} {
		var last *room.Event
		if tc.last != "" {
			last = proto.ParseLine(tc.last, now)
		}
		got := endReason(last, tc.err)
		if got.Kind != tc.kind || got.String() != tc.words {
			t.Errorf("after %q and %v: reason %#v (%q), want kind %d, %q", tc.last, tc.err, got, got, tc.kind, tc.words)
		}
	}
}

// TestIsQuitAsksTheRegistry: the lines that end the session are those the
// room runs as /quit.
func TestIsQuitAsksTheRegistry(t *testing.T) {
	for line, want := range map[string]bool{
		"/quit": true, "/QUIT": true, "/quit see you": true, "!exit": true, "!Exit now": true,
		"//quit": false, "/quitter": false, "quit": false, "/me quits": false, "!exits": false,
	} {
		if got := isQuit(line); got != want {
			t.Errorf("isQuit(%q) = %v, want %v", line, got, want)
		}
	}
}
