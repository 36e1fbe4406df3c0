package sshgw

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"golang.org/x/time/rate"

	"chatd/room"
)

// describeMsg names a message the key input sends, for comparisons.
func describeMsg(msg tea.Msg) string {
	switch msg := msg.(type) {
	case tea.PasteMsg:
		return "paste:" + msg.Content
	case tea.MouseWheelMsg:
		return "wheel"
	case tea.KeyPressMsg:
		return msg.String()
	}
	return fmt.Sprintf("%T", msg)
}

// filterAll feeds chunks, one read each, through a keyFilter without a
// rate limit and returns the messages it sends and how many cuts it made.
func filterAll(limit int, chunks ...string) (msgs []string, cuts int, f *keyFilter) {
	f = &keyFilter{limiter: rate.NewLimiter(rate.Inf, 1<<20), limit: limit, onCut: func() { cuts++ }}
	for _, c := range chunks {
		f.filter([]byte(c), true, time.Now(), func(msg tea.Msg) { msgs = append(msgs, describeMsg(msg)) })
	}
	return msgs, cuts, f
}

func TestKeyFilter(t *testing.T) {
	const limit = 10
	long := strings.Repeat("9", 1000)
	tests := []struct {
		name   string
		chunks []string
		want   []string
		cuts   int
	}{
		{"keys", []string{"hi\r", "\x1b[A", "\x1bOB", "\x1bx", "\x1b[<64;10;5M", "é€", "\x1b[1;5C", "\x1b[15~", "\x7f", "\x03"},
			[]string{"h", "i", "enter", "up", "down", "alt+x", "wheel", "é", "€", "ctrl+right", "f5", "backspace", "ctrl+c"}, 0},
		{"a lone Esc, then a key", []string{"\x1b", "x"}, []string{"esc", "x"}, 0},
		{"Alt and a non-ASCII key", []string{"\x1bé", "\x1bр"}, []string{"alt+é", "alt+р"}, 0},
		{"Alt and keys that begin sequences", []string{"\x1b]", "a", "\x1b[", "b", "\x1bO", "c"}, []string{"alt+]", "a", "alt+[", "b", "alt+shift+o", "c"}, 0},
		{"a short paste", []string{"a\x1b[200~0123\x1b[201~b"}, []string{"a", "paste:0123", "b"}, 0},
		{"markers split across reads", []string{"\x1b[20", "0~01", "23\x1b", "[201", "~b"}, []string{"paste:0123", "b"}, 0},
		{"a paste at the limit", []string{"\x1b[200~0123456789\x1b[201~"}, []string{"paste:0123456789"}, 0},
		{"a long paste is cut", []string{"\x1b[200~0123456789abcdef\x1b[201~x"}, []string{"paste:0123456789", "x"}, 1},
		{"an unterminated paste stops at the limit", []string{"\x1b[200~", strings.Repeat("z", 100000)}, []string{"paste:zzzzzzzzzz"}, 1},
		{"sequences inside a paste are dropped", []string{"\x1b[200~ab\x1b[20x\x1bPq\x07cd\x1b[201~"}, []string{"paste:abcd"}, 0},
		{"an empty paste sends nothing", []string{"\x1b[200~\x1b[201~x"}, []string{"x"}, 0},
		{"markers in other spellings", []string{"\x1b[0200~0123456789ab\x1b[201;1~x", "\x1b[200:1~cd\x1b[0201~"}, []string{"paste:0123456789", "x", "paste:cd"}, 1},
		{"no paste the screen did not see begin", []string{"\x1b[2147483848~x", "\xe0\x9b200~", "\x1b\x9b200~", "\x1b]0;\x9c\x9b200~\x07y"}, []string{"x", "2", "0", "0", "~", "esc", "2", "0", "0", "~", "y"}, 0},
		{"C1 controls and invalid UTF-8 are dropped", []string{"\x9b200~", "a\u009bb", "\xff\xc3\x41", "\xa0z"}, []string{"2", "0", "0", "~", "a", "b", "A", "z"}, 0},
		{"an endless CSI is dropped", []string{"\x1b[" + long, long, "m", "hi"}, []string{"h", "i"}, 0},
		{"a long OSC is dropped", []string{"\x1b]0;" + long + long + "\x07hi"}, []string{"h", "i"}, 0},
		{"an OSC ends at ST", []string{"\x1b]0;" + long + "\x1b\\hi"}, []string{"h", "i"}, 0},
		{"a string not ended by the end of a write is dropped", []string{"\x1b]0;" + long, "hi"}, []string{"h", "i"}, 0},
		{"an OSC ends at the next sequence", []string{"\x1bP" + long, "\x1b[Ahi"}, []string{"up", "h", "i"}, 0},
		{"a long read may end inside a sequence", []string{"\x1b[200~" + long + "\x1b", "[201~x"}, []string{"paste:" + long[:limit], "x"}, 1},
		{"a stray end marker means nothing", []string{"a\x1b[201~b"}, []string{"a", "b"}, 0},
		{"rxvt's shifted keys end at $", []string{"\x1b[7$c", "\x1b[3$d"}, []string{"shift+home", "c", "shift+delete", "d"}, 0},
		{"X10 mouse reports", []string{"\x1b[M`!!hi", "\x1b[Ma!!"}, []string{"wheel", "h", "i", "wheel"}, 0},
		{"ESC ESC and a key's sequence is Alt and the key", []string{"\x1b\x1b[D", "\x1b\x1bOA", "\x1b\x1bx"}, []string{"alt+left", "alt+up", "esc", "alt+x"}, 0},
		{"SS3 keys with a modifier", []string{"\x1bO5D", "\x1bO2P"}, []string{"ctrl+left", "shift+f1"}, 0},
		{"a string begun by Alt and a key ends with the write", []string{"ab\x1bPq", "cd"}, []string{"a", "b", "c", "d"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, cuts, f := filterAll(limit, tt.chunks...)
			if !slices.Equal(got, tt.want) || cuts != tt.cuts {
				t.Errorf("got %q with %d cuts, want %q with %d", got, cuts, tt.want, tt.cuts)
			}
			if held := len(f.seq.held); held > maxSeqBytes {
				t.Errorf("%d bytes of a sequence held", held)
			}
		})
	}
}

// TestKeyFilterRateLimitsWholeUnits: over the rate limit, keys and
// sequences are dropped whole, and pastes pass or are dropped whole.
func TestKeyFilterRateLimitsWholeUnits(t *testing.T) {
	now := time.Now()
	f := keyFilter{limiter: rate.NewLimiter(1, 10), limit: 100}
	var got []string
	send := func(msg tea.Msg) { got = append(got, describeMsg(msg)) }
	f.filter([]byte("\x1b[200~"+strings.Repeat("p", 50)+"\x1b[201~"), true, now, send)
	if want := []string{"paste:" + strings.Repeat("p", 50)}; !slices.Equal(got, want) {
		t.Errorf("a paste within the burst: got %q", got)
	}
	// The paste put the limit in debt: keys and the next paste are dropped
	// whole.
	got = nil
	f.filter([]byte("ab\x1b[A\x1b[200~xyz\x1b[201~"), true, now, send)
	if got != nil {
		t.Errorf("in debt: got %q, want nothing", got)
	}
	// Repaid: whole sequences pass again, and one the limit has no room
	// for is dropped whole, never cut.
	f.filter([]byte("\x1b[1;5A\x1b[1;5A\x1b[1;5A"), true, now.Add(time.Minute), send)
	if want := []string{"ctrl+up"}; !slices.Equal(got, want) {
		t.Errorf("after the debt: got %q, want %q (the burst is 10 bytes)", got, want)
	}
	// Empty pastes are charged for their markers.
	later := now.Add(2 * time.Minute)
	for range 100 {
		f.filter([]byte("\x1b[200~\x1b[201~"), true, later, send)
	}
	if tokens := f.limiter.TokensAt(later); tokens >= 1 {
		t.Errorf("100 empty pastes left %v tokens; they must cost their markers", tokens)
	}
	if f.dropped == 0 {
		t.Error("nothing was counted as dropped")
	}
	// A paste that is cut is charged for all it took, not what was left
	// after the cut was sent.
	cut := keyFilter{limiter: rate.NewLimiter(1, 1000), limit: 100}
	got = nil
	for range 20 {
		cut.filter([]byte("\x1b[200~"+strings.Repeat("p", 150)+"\x1b[201~"), true, now, send)
	}
	if len(got) > 10 {
		t.Errorf("%d cut pastes of 100 bytes passed a burst of 1000 bytes", len(got))
	}
}

// readFor runs a keyInput on src for d, then closes src and waits for the
// input to end; it returns the input and how many messages it sent meanwhile.
func readFor(src io.ReadCloser, d time.Duration) (*keyInput, int) {
	k := newKeyInput(src, nil, func() {})
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	sent := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		k.run(ctx, func(tea.Msg) { sent++ }) // run calls it only until ctx is done
	}()
	<-ctx.Done()
	src.Close()
	<-done
	return k, sent
}

func TestKeyInputIsRateLimited(t *testing.T) {
	const d = 500 * time.Millisecond
	r, w := io.Pipe()
	go func() {
		chunk := []byte(strings.Repeat("k", inputChunk))
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}()
	k, sent := readFor(r, d)
	if most := inputBurst + int(d.Seconds()*2*inputRate) + inputChunk; sent > most {
		t.Errorf("%d keys passed in about %v, at most %d may", sent, d, most)
	}
	if sent < inputBurst {
		t.Errorf("only %d keys passed; the burst is %d", sent, inputBurst)
	}
	if k.droppedBytes() == 0 {
		t.Error("nothing was counted as dropped")
	}
}

func TestKeyInputReportsTheEnd(t *testing.T) {
	eofs := 0
	k := newKeyInput(strings.NewReader("abc"), nil, func() { eofs++ })
	var got []string
	k.run(context.Background(), func(msg tea.Msg) { got = append(got, describeMsg(msg)) })
	if !slices.Equal(got, []string{"a", "b", "c"}) || eofs != 1 {
		t.Errorf("got %q and %d ends, want a, b, c and one end", got, eofs)
	}
}

func TestHugePasteIsCutWithANotice(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	bob, err := ts.room.Join("bob", room.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Leave(room.Reason{Detail: "test over"})
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
