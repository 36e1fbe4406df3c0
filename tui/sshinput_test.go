package tui

import (
	"io"
	"strings"
	"testing"
	"time"

	"chatd/room"
)

func TestPasteGuard(t *testing.T) {
	const limit = 10
	tests := []struct {
		name   string
		chunks []string
		want   string
		cuts   int
	}{
		{"keys pass", []string{"hello\r", "\x1b[A"}, "hello\r\x1b[A", 0},
		{"a short paste passes", []string{"a\x1b[200~0123\x1b[201~b"}, "a\x1b[200~0123\x1b[201~b", 0},
		{"markers split across reads", []string{"\x1b[20", "0~01", "23\x1b", "[201", "~b"}, "\x1b[200~0123\x1b[201~b", 0},
		{"a paste at the limit passes", []string{"\x1b[200~0123456789\x1b[201~"}, "\x1b[200~0123456789\x1b[201~", 0},
		{"a long paste is cut", []string{"\x1b[200~0123456789abcdef\x1b[201~x"}, "\x1b[200~0123456789\x1b[201~x", 1},
		{"cut across reads", []string{"\x1b[200~01234", "56789abc", strings.Repeat("d", 1000), "\x1b[201~x"}, "\x1b[200~0123456789\x1b[201~x", 1},
		{"an unterminated paste stops at the limit", []string{"\x1b[200~", strings.Repeat("z", 100000)}, "\x1b[200~zzzzzzzzzz\x1b[201~", 1},
		{"a partial end marker is content", []string{"\x1b[200~ab\x1b[20x\x1b\x1b[201~"}, "\x1b[200~ab\x1b[20x\x1b\x1b[201~", 0},
		{"a partial end marker is not split by a cut", []string{"\x1b[200~01234567\x1b[201x"}, "\x1b[200~01234567\x1b[\x1b[201~", 1},
		{"two pastes", []string{"\x1b[200~0123456789ab\x1b[201~\x1b[200~cd\x1b[201~"}, "\x1b[200~0123456789\x1b[201~\x1b[200~cd\x1b[201~", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cuts := 0
			g := pasteGuard{limit: limit, onCut: func() { cuts++ }}
			var out []byte
			for _, c := range tt.chunks {
				out = g.filter(out, []byte(c))
			}
			if string(out) != tt.want || cuts != tt.cuts {
				t.Errorf("got %q with %d cuts, want %q with %d", out, cuts, tt.want, tt.cuts)
			}
		})
	}
}

// endlessReader returns b forever.
type endlessReader struct{ b []byte }

func (r endlessReader) Read(p []byte) (int, error) { return copy(p, r.b), nil }

func TestKeyInputIsRateLimited(t *testing.T) {
	k := newKeyInput(endlessReader{[]byte(strings.Repeat("k", inputChunk))}, nil, func() {})
	start := time.Now()
	passed := 0
	buf := make([]byte, 4096)
	for time.Since(start) < 500*time.Millisecond {
		n, err := k.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		passed += n
	}
	elapsed := time.Since(start)
	if most := inputBurst + int(elapsed.Seconds()*inputRate) + inputChunk; passed > most {
		t.Errorf("%d bytes passed in %v, at most %d may", passed, elapsed, most)
	}
	if passed < inputBurst {
		t.Errorf("only %d bytes passed; the burst is %d", passed, inputBurst)
	}
	if k.droppedBytes() == 0 {
		t.Error("nothing was counted as dropped")
	}
}

func TestKeyInputReportsEOFOnce(t *testing.T) {
	eofs := 0
	k := newKeyInput(strings.NewReader("abc"), nil, func() { eofs++ })
	got, err := io.ReadAll(k)
	if err != nil || string(got) != "abc" {
		t.Fatalf("read %q, %v", got, err)
	}
	_, _ = k.Read(make([]byte, 1))
	if eofs != 1 {
		t.Errorf("the end was reported %d times", eofs)
	}
}

func TestHugePasteIsCutWithANotice(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	bob, err := ts.room.Join("bob", room.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Leave("test over")
	term := ts.openTerminal(t, "alice")
	term.waitText("members (2)")
	nextEvent(t, bob, room.Join, "alice")

	// 1 MiB in one bracketed paste: the screen takes the first 2 KiB.
	term.send(pasteStart + strings.Repeat("p", 1<<20) + pasteEnd)
	term.waitText("your paste was cut")
	term.send("\r")
	ev := nextEvent(t, bob, room.Chat, "alice")
	if ev.Text != strings.Repeat("p", maxPasteBytes) {
		t.Errorf("bob got a line of %d bytes, want %d", len(ev.Text), maxPasteBytes)
	}

	// Then a paste that never ends: it is cut too, and the session lives.
	term.send(pasteStart + strings.Repeat("q", 100000))
	term.waitScreen("a second notice, below alice's line", func(s string) bool {
		return strings.LastIndex(s, "your paste was cut") > strings.LastIndex(s, "ppp") && strings.Contains(s, "> qqq")
	})
	term.send(pasteEnd + "\x15after\r")
	if ev := nextEvent(t, bob, room.Chat, "alice"); ev.Text != "after" {
		t.Errorf("bob got %q after the endless paste", ev.Text)
	}
}

func TestScreenEndingWithPendingKeysLeavesNothingBehind(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	for range 3 {
		term := ts.openTerminal(t, "quitter")
		term.waitText("members (1)")
		// Ctrl+C ends the screen; the keys right behind it are still being
		// decoded when it does. Bubble Tea's own reader then blocked for
		// good sending them to the ended program.
		term.send("\x03" + strings.Repeat("x\x1b[A", 2000))
		if err := term.wait(); err != nil {
			t.Fatalf("session ended with %v", err)
		}
		term.close()
	}
	waitFor(t, "the room to empty", func() bool { return ts.room.Len() == 0 })
}
