package tui

import (
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"chatd/room"
)

func TestKeyFilter(t *testing.T) {
	const limit = 10
	long := strings.Repeat("9", 1000)
	tests := []struct {
		name   string
		chunks []string
		want   string
		cuts   int
	}{
		{"keys pass", []string{"hello\r", "\x1b[A", "\x1bOB", "\x1bx", "\x1b[<64;10;5M", "é€"}, "hello\r\x1b[A\x1bOB\x1bx\x1b[<64;10;5Mé€", 0},
		{"a short paste passes", []string{"a\x1b[200~0123\x1b[201~b"}, "a\x1b[200~0123\x1b[201~b", 0},
		{"markers split across reads", []string{"\x1b[20", "0~01", "23\x1b", "[201", "~b"}, "\x1b[200~0123\x1b[201~b", 0},
		{"a paste at the limit passes", []string{"\x1b[200~0123456789\x1b[201~"}, "\x1b[200~0123456789\x1b[201~", 0},
		{"a long paste is cut", []string{"\x1b[200~0123456789abcdef\x1b[201~x"}, "\x1b[200~0123456789\x1b[201~x", 1},
		{"cut across reads", []string{"\x1b[200~01234", "56789abc", strings.Repeat("d", 1000), "\x1b[201~x"}, "\x1b[200~0123456789\x1b[201~x", 1},
		{"an unterminated paste stops at the limit", []string{"\x1b[200~", strings.Repeat("z", 100000)}, "\x1b[200~zzzzzzzzzz\x1b[201~", 1},
		{"sequences inside a paste are content", []string{"\x1b[200~ab\x1b[20x\x1b\x1b[201~"}, "\x1b[200~ab\x1b[20x\x1b\x1b[201~", 0},
		{"a cut never splits a sequence", []string{"\x1b[200~01234567\x1b[201x"}, "\x1b[200~01234567\x1b[201~", 1},
		{"two pastes", []string{"\x1b[200~0123456789ab\x1b[201~\x1b[200~cd\x1b[201~"}, "\x1b[200~0123456789\x1b[201~\x1b[200~cd\x1b[201~", 1},
		{"markers in other spellings", []string{"\x1b[0200~0123456789ab\x1b[201;1~x", "\x1b[200:1~cd\x1b[0201~"}, "\x1b[200~0123456789\x1b[201~x\x1b[200~cd\x1b[201~", 1},
		{"the one-byte CSI is dropped", []string{"\x9b200~ab"}, "200~ab", 0},
		{"UTF-8 continuation bytes pass", []string{"Û\u00a9x"}, "Û\u00a9x", 0},
		{"C1 controls as UTF-8 are dropped", []string{"Û\u009b200~x"}, "Û200~x", 0},
		{"an endless CSI is dropped", []string{"\x1b[", long, long, "m", "hi"}, "hi", 0},
		{"an endless OSC is dropped", []string{"\x1b]0;", long, long, "\x07hi"}, "hi", 0},
		{"an endless OSC ends at ST", []string{"\x1b]0;", long, "\x1b\\hi"}, "hi", 0},
		{"an endless OSC ends at the next sequence", []string{"\x1bP", long, "\x1b[Ahi"}, "\x1b[Ahi", 0},
		{"a lone Esc passes at once", []string{"\x1b", "x"}, "\x1bx", 0},
		{"a lone Esc is kept apart from a sequence after it", []string{"\x1b", "[A"}, "\x1b\x18[A", 0},
		{"a stray end marker means nothing", []string{"a\x1b[201~b"}, "ab", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cuts := 0
			f := keyFilter{limiter: rate.NewLimiter(rate.Inf, 1<<20), limit: limit, onCut: func() { cuts++ }}
			var out []byte
			for _, c := range tt.chunks {
				out = f.filter(out, []byte(c), time.Now())
			}
			if string(out) != tt.want || cuts != tt.cuts {
				t.Errorf("got %q with %d cuts, want %q with %d", out, cuts, tt.want, tt.cuts)
			}
			if held := len(f.seq.held); held > maxSeqBytes {
				t.Errorf("%d bytes of a sequence held", held)
			}
		})
	}
}

// TestKeyFilterRateLimitsWholeUnits: over the rate limit, keys and
// sequences are dropped whole, and pastes pass or are dropped whole, so
// the decoder never stays in a paste and never sees half a sequence.
func TestKeyFilterRateLimitsWholeUnits(t *testing.T) {
	now := time.Now()
	f := keyFilter{limiter: rate.NewLimiter(1, 10), limit: 100}
	got := string(f.filter(nil, []byte("\x1b[200~"+strings.Repeat("p", 50)+"\x1b[201~"), now))
	if want := "\x1b[200~" + strings.Repeat("p", 50) + "\x1b[201~"; got != want {
		t.Errorf("a paste within the burst: got %q", got)
	}
	// The paste put the limit in debt: keys and the next paste are dropped
	// whole, markers included.
	got = string(f.filter(nil, []byte("ab\x1b[A\x1b[200~xyz\x1b[201~"), now))
	if got != "" {
		t.Errorf("in debt: got %q, want nothing", got)
	}
	// Repaid: whole sequences pass again, and a sequence the limit has no
	// room for is dropped whole, never cut.
	later := now.Add(time.Minute)
	got = string(f.filter(nil, []byte("\x1b[1;5A\x1b[1;5A\x1b[1;5A"), later))
	if got != "\x1b[1;5A" {
		t.Errorf("after the debt: got %q, want one whole sequence (the burst is 10 bytes)", got)
	}
	if f.dropped == 0 {
		t.Error("nothing was counted as dropped")
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
