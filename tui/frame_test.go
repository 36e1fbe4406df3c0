package tui

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/vt"

	"chatd/room"
)

// screenOf returns what a terminal should show for the frame: its rows as
// plain text, trailing blanks trimmed.
func screenOf(f *screenFrame, height int) []string {
	rows := make([]string, height)
	for y, r := range f.rows {
		if y < height {
			rows[y] = strings.TrimRight(ansi.Strip(r.left+spaces(r.pad)+r.right), " ")
		}
	}
	return rows
}

// emulatorRows returns the emulator's screen, trailing blanks trimmed.
func emulatorRows(emu *vt.Emulator, height int) []string {
	rows := strings.Split(emu.String(), "\n")
	for len(rows) < height {
		rows = append(rows, "")
	}
	for i := range rows {
		rows[i] = strings.TrimRight(rows[i], " ")
	}
	return rows[:height]
}

// TestFrameWriterDrawsWhatTheModelShows drives a chat screen through a long
// random session (messages short and long, members coming and going,
// scrolling, typing, resizes) and checks after every step that a terminal
// emulator fed only the frame writer's output shows exactly the model's
// frame. This covers the row diff, the scrolling of the scrollback region
// and the redraw after a resize.
func TestFrameWriterDrawsWhatTheModelShows(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	w, h := 90, 16
	emu := vt.NewEmulator(w, h)
	var out bytes.Buffer
	frames := newFrameWriter(&out, 0)
	m := New(Options{Conn: newFakeConn("alice"), Location: time.UTC})
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	nicks := []string{"alice"}
	feed(m, membersEv(nicks...))
	frames.start()
	words := strings.Fields("the quick brown fox jumps over the lazy dog while alice and bob talk about terminals")
	scrolls := 0
	for step := range 600 {
		what := ""
		switch op := rng.IntN(100); {
		case op < 55:
			n := rng.IntN(30)
			text := make([]string, n)
			for i := range text {
				text[i] = words[rng.IntN(len(words))]
			}
			from := nicks[rng.IntN(len(nicks))]
			feed(m, chat(from, strings.Join(text, " ")))
			what = "message"
		case op < 65:
			nick := fmt.Sprintf("user%d", step)
			nicks = append(nicks, nick)
			feed(m, ev(room.Join, nick, "", ""))
			what = "join"
		case op < 70 && len(nicks) > 1:
			i := 1 + rng.IntN(len(nicks)-1)
			feed(m, ev(room.Leave, nicks[i], "", ""))
			nicks = append(nicks[:i], nicks[i+1:]...)
			what = "leave"
		case op < 78:
			key := []tea.Key{{Code: tea.KeyPgUp}, {Code: tea.KeyPgDown}, {Code: tea.KeyEnd}}[rng.IntN(3)]
			m.Update(tea.KeyPressMsg(key))
			what = "scroll " + key.String()
		case op < 90:
			m.Update(tea.KeyPressMsg(tea.Key{Code: 'x', Text: "x"}))
			if rng.IntN(4) == 0 {
				m.Update(tea.KeyPressMsg(tea.Key{Code: tea.KeyBackspace}))
			}
			what = "typing"
		default:
			w, h = 20+rng.IntN(100), 3+rng.IntN(25)
			emu.Resize(w, h)
			frames.resize()
			m.Update(tea.WindowSizeMsg{Width: w, Height: h})
			what = fmt.Sprintf("resize to %dx%d", w, h)
		}
		out.Reset()
		frames.frame(m.screen())
		if bytes.Contains(out.Bytes(), []byte("\x1b[1;")) && bytes.Contains(out.Bytes(), []byte("r\x1b[")) {
			scrolls++
		}
		_, _ = emu.Write(out.Bytes())
		want, got := screenOf(m.screen(), h), emulatorRows(emu, h)
		for y := range want {
			if want[y] != got[y] {
				t.Fatalf("step %d (%s), %dx%d: row %d is\n%q\nwant\n%q\nscreen:\n%s", step, what, w, h, y, got[y], want[y], strings.Join(got, "\n"))
			}
		}
	}
	if scrolls < 50 {
		t.Errorf("the scrollback region was scrolled %d times in 600 steps; want it used for most messages", scrolls)
	}
}

// TestFrameWriterScrollsForANewMessage checks what a new message costs on a
// full screen with a member list: the region scrolls, and the bytes sent are
// a fraction of a full redraw.
func TestFrameWriterScrollsForANewMessage(t *testing.T) {
	var out bytes.Buffer
	frames := newFrameWriter(&out, 0)
	m := New(Options{Conn: newFakeConn("alice"), Location: time.UTC})
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	feed(m, membersEv("alice", "bob", "carol"))
	for i := range 40 {
		feed(m, chat("bob", fmt.Sprintf("message %d with some words in it", i)))
	}
	frames.frame(m.screen())
	full := out.Len()
	out.Reset()
	feed(m, chat("carol", "one more"))
	frames.frame(m.screen())
	if !strings.Contains(out.String(), "\x1b[1;28r") {
		t.Errorf("no scrolling region set for the 28 scrollback rows: %q", out.String())
	}
	if out.Len()*4 > full {
		t.Errorf("a new message sent %d bytes, a full screen %d: want under a quarter", out.Len(), full)
	}
}

// syncBuffer is a bytes.Buffer that counts writes, safe for the frame
// writer's timer.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	return b.buf.Write(p)
}

func (b *syncBuffer) state() (string, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String(), b.writes
}

// TestFrameWriterCoalescesBursts checks that a burst of frames within the
// frame interval is drawn as the first frame at once and the newest one
// when the interval ends, and that nothing is drawn for an unchanged frame.
//
// The interval is an hour, so that however slowly a busy machine runs the
// burst it stays within one interval; the test then ends the interval by
// firing the writer's timer, which must have been armed for the frames the
// burst left waiting.
func TestFrameWriterCoalescesBursts(t *testing.T) {
	out := &syncBuffer{}
	frames := newFrameWriter(out, time.Hour)
	m := New(Options{Conn: newFakeConn("alice"), Location: time.UTC})
	m.Update(tea.WindowSizeMsg{Width: 60, Height: 10})
	for i := range 20 {
		feed(m, chat("bob", fmt.Sprintf("burst %d", i)))
		frames.frame(m.screen())
	}
	if _, writes := out.state(); writes != 1 {
		t.Fatalf("%d writes during the burst; want only the first frame, at once", writes)
	}
	if armed := frames.timer.Reset(0); !armed {
		t.Fatal("no frame was left waiting for the interval's end")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		text, writes := out.state()
		if writes == 2 && strings.Contains(text, "burst 19") {
			break
		}
		if writes > 2 || time.Now().After(deadline) {
			t.Fatalf("after the interval: %d writes; want 2, the second with the newest message", writes)
		}
		time.Sleep(5 * time.Millisecond)
	}
	frames.frame(m.screen())
	if _, writes := out.state(); writes != 2 {
		t.Errorf("an unchanged frame was drawn again (%d writes)", writes)
	}
	if frames.timer.Stop() {
		t.Error("an unchanged frame was left waiting to be drawn")
	}
	frames.close()
	if text, _ := out.state(); !strings.HasSuffix(text, restoreTerminal) {
		t.Errorf("close did not give the terminal back: output ends %q", text[max(0, len(text)-40):])
	}
}
