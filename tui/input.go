package tui

import (
	"strings"
	"unicode/utf8"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// maxHistory bounds the input history.
const maxHistory = 100

// input is the line the user types in. Editing is bubbles' textinput, with
// the real terminal cursor (no blinking, no timers). Drawing is done here so
// that the cursor column and the horizontal scrolling are measured in
// display columns, which keeps them right with wide characters.
type input struct {
	ti       textinput.Model
	prompt   string
	maxBytes int      // the longest line, in bytes of UTF-8 (the room's limit is in bytes)
	history  []string // oldest first
	browse   int      // index into history while browsing with up/down; len(history) otherwise
	draft    string   // what was typed before browsing started
	offset   int      // first rune shown, when the line is wider than the screen

	// The last view, drawn again only after an edit or at another width.
	viewed   bool
	viewW    int
	viewM    ansi.Method
	viewText string
	viewX    int
}

// newInput returns an input line that takes at most maxBytes bytes.
func newInput(prompt string, maxBytes int) input {
	ti := textinput.New()
	ti.Prompt = ""
	// The text field counts runes; every rune is at least a byte, so this
	// bounds it, and update bounds the bytes.
	ti.CharLimit = maxBytes
	ti.SetVirtualCursor(false)
	ti.Focus()
	return input{ti: ti, prompt: prompt, maxBytes: maxBytes}
}

// update passes a key or paste to the text field. A paste is cut to what
// still fits; an edit that would make the line longer than maxBytes is
// refused, so that the screen never holds a line the room will refuse.
func (in *input) update(msg tea.Msg) {
	if paste, ok := msg.(tea.PasteMsg); ok {
		paste.Content = cutToBytes(paste.Content, in.maxBytes-len(in.ti.Value()))
		msg = paste
	}
	before := in.ti
	in.ti, _ = in.ti.Update(msg)
	if len(in.ti.Value()) > in.maxBytes {
		in.ti = before
	}
	in.viewed = false
}

// cutToBytes returns the longest prefix of s of at most n bytes that ends
// on a rune boundary.
func cutToBytes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func (in *input) value() string { return in.ti.Value() }

// take returns the typed line, records it in the history and clears the
// field.
func (in *input) take() string {
	v := in.ti.Value()
	if strings.TrimSpace(v) != "" && (len(in.history) == 0 || in.history[len(in.history)-1] != v) {
		in.history = append(in.history, v)
		if len(in.history) > maxHistory {
			in.history = append(in.history[:0:0], in.history[len(in.history)-maxHistory:]...)
		}
	}
	in.browse = len(in.history)
	in.draft = ""
	in.ti.Reset()
	in.offset = 0
	in.viewed = false
	return v
}

// prev shows the previous line of the history.
func (in *input) prev() {
	if in.browse > len(in.history) {
		in.browse = len(in.history)
	}
	if in.browse == 0 {
		return
	}
	if in.browse == len(in.history) {
		in.draft = in.ti.Value()
	}
	in.browse--
	in.show(in.history[in.browse])
}

// next shows the next line of the history, and finally what was being typed.
func (in *input) next() {
	if in.browse >= len(in.history) {
		return
	}
	in.browse++
	if in.browse == len(in.history) {
		in.show(in.draft)
		return
	}
	in.show(in.history[in.browse])
}

func (in *input) show(s string) {
	in.ti.SetValue(s)
	in.ti.CursorEnd()
	in.viewed = false
}

// view draws the input line width columns wide and returns the cursor's
// column. Text that does not fit scrolls sideways to keep the cursor shown.
func (in *input) view(width int, st *styles, method ansi.Method) (string, int) {
	if !in.viewed || width != in.viewW || method != in.viewM {
		in.viewText, in.viewX = in.draw(width, st, method)
		in.viewed, in.viewW, in.viewM = true, width, method
	}
	return in.viewText, in.viewX
}

// draw draws the input line; see view.
func (in *input) draw(width int, st *styles, method ansi.Method) (string, int) {
	prompt := in.prompt
	pw := method.StringWidth(prompt)
	avail := width - pw - 1 // one column for the cursor after the text
	if avail < 1 {
		return "", 0
	}
	runes := []rune(in.ti.Value())
	pos := min(in.ti.Position(), len(runes))
	if pos < in.offset {
		in.offset = pos
	}
	// The leftmost rune that still lets the text up to the cursor fit.
	first, w := pos, 0
	for first > 0 {
		rw := method.StringWidth(string(runes[first-1]))
		if w+rw > avail {
			break
		}
		w += rw
		first--
	}
	in.offset = min(max(in.offset, first), len(runes))
	shown := method.Truncate(string(runes[in.offset:]), width-pw, "")
	cursor := pw + method.StringWidth(string(runes[in.offset:pos]))
	return st.prompt.Render(prompt) + shown, cursor
}
