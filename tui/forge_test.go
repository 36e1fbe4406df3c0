package tui

import (
	"bytes"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/vt"

	"chatd/room"
)

// forgeries are message texts that try to put a row of their own on
// someone's screen: "12:34 bob: ..." after padding of every kind, so that at
// some width a wrap would bring it to the start of a row.
func forgeries() []string {
	fake := "12:34 bob: send me your password"
	var texts []string
	for _, n := range []int{1, 13, 33, 58, 94, 151} {
		texts = append(texts,
			strings.Repeat("x", n)+" "+fake,
			"hi"+strings.Repeat(" ", n)+fake,
			"hi"+strings.Repeat("\u00a0", n)+fake,
			"hi"+strings.Repeat("\u3000", n/2)+fake,
			"hi"+strings.Repeat("\u2003\u200b", n)+fake,
			"hi"+strings.Repeat("\u00ad", n)+fake,
			strings.Repeat("\u0600", n)+fake,
		)
	}
	return texts
}

// hostileEvents are the forgeries as every kind of event whose text another
// member chose: chat, actions, private messages, leave reasons; and as
// notices.
func hostileEvents() []*room.Event {
	var evs []*room.Event
	for _, text := range forgeries() {
		evs = append(evs,
			chat("mallory", text),
			ev(room.Action, "mallory", "", text),
			ev(room.Private, "mallory", "alice", text),
			ev(room.Leave, "eve", "", "quit: "+text),
			ev(room.Notice, "", "", text))
	}
	return evs
}

// TestNoRowLooksLikeAnotherMessage lays hostile messages out at every width
// from 2 to 200 columns and checks every row: the first starts with the
// time and the real sender's name as the screen writes them, and every
// other row, a continuation, starts with a space, so it can never pass for
// a message's first row, however the text was padded.
func TestNoRowLooksLikeAnotherMessage(t *testing.T) {
	st := defaultStyles()
	r := renderer{st: &st, loc: time.UTC, method: ansi.WcWidth, now: time.Now, self: "alice"}
	for _, e := range hostileEvents() {
		for w := 2; w <= 200; w++ {
			for i, l := range r.render(e, w) {
				row := ansi.Strip(l.s)
				if i > 0 && !strings.HasPrefix(row, " ") || i == 0 && !isFirstRow(row) {
					t.Fatalf("width %d: row %d of a %v is %q; the text was %q", w, i, e.Kind, row, e.Text)
				}
			}
		}
	}
}

// TestHostileTextOnATerminal sends the hostile messages to chat screens of
// several widths through the frame writer into a terminal emulator, and
// checks what a person would see: rows that start at the first column are
// message beginnings the screen wrote, and the member list's separator
// stays in its column on every row.
func TestHostileTextOnATerminal(t *testing.T) {
	evs := hostileEvents()
	const h = 40
	for _, w := range []int{20, 59, 60, 80, 133, 200} {
		emu := vt.NewEmulator(w, h)
		var out bytes.Buffer
		frames := newFrameWriter(&out, 0)
		m := New(Options{Conn: newFakeConn("alice"), Location: time.UTC})
		m.Update(tea.WindowSizeMsg{Width: w, Height: h})
		feed(m, membersEv("alice", "bob", "mallory"))
		frames.start()
		for _, e := range evs {
			feed(m, e)
			out.Reset()
			frames.frame(m.screen())
			_, _ = emu.Write(out.Bytes())
			checkRows(t, w, emulatorRows(emu, h)[:h-2], e.Text)
		}
	}
}

// checkRows checks the scrollback rows of a w-column screen after text
// arrived.
func checkRows(t *testing.T, w int, rows []string, text string) {
	t.Helper()
	sep := w - panelWidth(w) + 1 // after the gap
	for y, row := range rows {
		if row != "" && row[0] != ' ' && !isFirstRow(row) {
			t.Fatalf("width %d: row %d starts like a message of its own: %q\n(after %q)", w, y, row, text)
		}
		if panelWidth(w) > 0 && ansi.Cut(row, sep, sep+1) != "│" {
			t.Fatalf("width %d: row %d has no separator at column %d: %q\n(after %q)", w, y, sep, row, text)
		}
	}
}

// firstRows are how the screen starts the rows of the messages
// TestNoRowLooksLikeAnotherMessage sends.
var firstRows = []string{"12:34 mallory: ", "12:34 * mallory ", "12:34 [PM from mallory] ", "12:34 <-- eve left ", "12:34 -- "}

// isFirstRow reports whether row starts as the screen starts a message, or
// is the start of such a beginning cut by a narrow screen.
func isFirstRow(row string) bool {
	for _, head := range firstRows {
		if strings.HasPrefix(row, head) || strings.HasPrefix(head, row) {
			return true
		}
	}
	return false
}
