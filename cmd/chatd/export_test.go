package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"chatd/room"
)

// TestExportLine: the fields of each kind as documented; presence counts
// are there even when 0; every reason kind has its own word.
func TestExportLine(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 0, 0, 5000, time.FixedZone("CET", 3600))
	cases := []struct {
		ev   room.Event
		want string
	}{
		{room.Event{Seq: 1, Time: at, Kind: room.Join, From: "alice"},
			`{"seq":1,"time":"2026-12-01T08:00:00.000005000Z","kind":"join","from":"alice"}`},
		{room.Event{Seq: 2, Time: at, Kind: room.Chat, From: "alice", Text: `<a href="x">&</a>`},
			`{"seq":2,"time":"2026-12-01T08:00:00.000005000Z","kind":"chat","from":"alice","text":"<a href=\"x\">&</a>"}`},
		{room.Event{Seq: 3, Time: at, Kind: room.NickChange, From: "alice", To: "alicia"},
			`{"seq":3,"time":"2026-12-01T08:00:00.000005000Z","kind":"nick","from":"alice","to":"alicia"}`},
		{room.Event{Seq: 4, Time: at, Kind: room.Presence, Count: 3, Left: 1},
			`{"seq":4,"time":"2026-12-01T08:00:00.000005000Z","kind":"presence","count":3,"joined":0,"left":1}`},
		{room.Event{Seq: 5, Time: at, Kind: room.Leave, From: "bob", Reason: room.Reason{Kind: room.ReasonQuit, Detail: "bye"}},
			`{"seq":5,"time":"2026-12-01T08:00:00.000005000Z","kind":"leave","from":"bob","reason":{"kind":"quit","detail":"bye"}}`},
		{room.Event{Seq: 6, Time: at, Kind: room.Leave, From: "bob", Reason: room.Reason{Kind: 200, Detail: "teleported"}},
			`{"seq":6,"time":"2026-12-01T08:00:00.000005000Z","kind":"leave","from":"bob","reason":{"kind":"other","detail":"teleported"}}`},
	}
	for _, c := range cases {
		if got := encodeLine(t, &c.ev); got != c.want+"\n" {
			t.Errorf("%v:\n got %s want %s", c.ev.Kind, got, c.want)
		}
	}
	seen := map[string]bool{}
	for k := room.ReasonOther; k <= room.ReasonProtocol; k++ {
		name := reasonName(k)
		if seen[name] || (k != room.ReasonOther && name == "other") {
			t.Errorf("reason kind %d has the word %q, not its own", k, name)
		}
		seen[name] = true
	}
}

// encodeLine is ev as export writes it.
func encodeLine(t *testing.T, ev *room.Event) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(newExportLine(ev)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestExportLineCannotBeBroken: whatever a text holds (the store only
// keeps clean text, but a line must hold anyway), an event is one line.
func TestExportLineCannotBeBroken(t *testing.T) {
	text := "a\nb\rc\u2028d\u2029e\u0085f\x00g\x1b[2J\xff\"}\n{\"seq\":9}"
	got := encodeLine(t, &room.Event{Seq: 1, Time: time.Now(), Kind: room.Chat, From: "eve", Text: text})
	if strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") || strings.ContainsAny(got, "\r\u2028\u2029\x00\x1b") {
		t.Fatalf("a hostile text broke the line: %q", got)
	}
	var back exportLine
	if err := json.Unmarshal([]byte(got), &back); err != nil || back.Text != strings.ToValidUTF8(text, "\ufffd") {
		t.Fatalf("read back %q, %v", back.Text, err)
	}
}

// TestSinceFlag: --since takes an RFC 3339 time or a positive duration
// back from now, nothing else.
func TestSinceFlag(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"24h":                            now.Add(-24 * time.Hour),
		"90m":                            now.Add(-90 * time.Minute),
		"2026-11-30T09:00:00Z":           time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC),
		"2026-11-30T10:00:00.5+01:00":    time.Date(2026, 11, 30, 9, 0, 0, 5e8, time.UTC),
		"2026-11-30T09:00:00.123456789Z": time.Date(2026, 11, 30, 9, 0, 0, 123456789, time.UTC),
	} {
		var s sinceFlag
		if err := s.Set(in); err != nil || !s.from(now).Equal(want) {
			t.Errorf("--since %s: %v, %v; want %v", in, s.from(now), err, want)
		}
	}
	for _, in := range []string{"", "0s", "-1h", "yesterday", "2026-11-30", "2026-11-30 09:00:00", "1d"} {
		var s sinceFlag
		if err := s.Set(in); err == nil {
			t.Errorf("--since %q accepted", in)
		}
	}
}
