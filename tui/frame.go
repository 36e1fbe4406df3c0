package tui

import (
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
)

// Terminal sequences the frame writer uses.
const (
	// On start: the alternate screen, mouse button and wheel reports in SGR
	// form, and bracketed paste; then a clear screen.
	setupTerminal = "\x1b[?1049h\x1b[?7l\x1b[?1002h\x1b[?1006h\x1b[?2004h\x1b[H\x1b[2J"
	// On close: all of that undone, and the cursor shown.
	restoreTerminal = "\x1b[?7h\x1b[?2004l\x1b[?1006l\x1b[?1002l\x1b[m\x1b[?25h\x1b[?1049l"

	clearScreen = "\x1b[H\x1b[2J"
	hideCursor  = "\x1b[?25l"
	showCursor  = "\x1b[?25h"
	// resetAndEraseLine resets the colours, so that the erase leaves the
	// terminal's own background, and erases the whole row.
	resetAndEraseLine = "\x1b[m\x1b[2K"
	// resetAndEraseRight does the same from the cursor to the row's end.
	resetAndEraseRight = "\x1b[m\x1b[K"
	// setTitle starts the window title, which endTitle ends (ST, so that
	// the only BEL the screen writes is its bell). pushTitle saves the
	// terminal's title on its title stack; restoreTitle empties the title,
	// for terminals without a stack, and pops the saved one.
	setTitle     = "\x1b]2;"
	endTitle     = "\x1b\\"
	pushTitle    = "\x1b[22;2t"
	restoreTitle = setTitle + endTitle + "\x1b[23;2t"
)

// screenFrame is one frame of the chat screen, row by row. Besides the
// rows, it says how the screen is laid out, so that a frame writer can
// scroll the terminal rather than draw the scrollback again when a message
// arrives.
type screenFrame struct {
	rows   []frameRow
	cursor *tea.Cursor // nil hides it
	scroll int         // rows[:scroll] are the scrollback, which moves up
	split  int         // the column where the member list starts; 0 without one
	title  string      // the terminal's title; "" leaves it alone
}

// frameRow is one row of a frame: styled text from the first column, spaces
// up to the split column, and what is right of it (the member list). No row
// is wider than the screen.
type frameRow struct {
	left  string
	pad   int
	right string
}

// reset empties the frame, keeping its room for rows.
func (f *screenFrame) reset() {
	*f = screenFrame{rows: f.rows[:0]}
}

// String returns the frame as Bubble Tea's renderer takes it: the rows,
// separated by "\n".
func (f *screenFrame) String() string {
	var b strings.Builder
	for i, r := range f.rows {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(r.left)
		b.WriteString(spaces(r.pad))
		b.WriteString(r.right)
	}
	return b.String()
}

// frameWriter draws a chat screen on a terminal in place of Bubble Tea's
// renderer, for SSH sessions, where there are many screens in one process.
//
// The chat screen is a stack of whole rows, each already styled and cut to
// the screen's width by the model. So the writer keeps the rows it last drew
// and, for a new frame, rewrites only the parts of rows that differ. When
// the scrollback moved up (a message arrived), it first scrolls that region
// of the terminal, so that a message costs about its own rows rather than
// the whole screen. It keeps no cell buffer and parses nothing: a session
// costs a few kilobytes of rows, and a frame little more than the bytes it
// sends.
//
// Frames are drawn at once when the last one is older than the frame
// interval; otherwise the newest frame is drawn when the interval has passed,
// so that a burst of messages costs one frame.
type frameWriter struct {
	w        io.Writer
	interval time.Duration

	mu      sync.Mutex
	next    screenFrame // the newest frame; its rows are the writer's own
	pending bool        // next has not been drawn yet
	shown   screenFrame // what is on the terminal now
	atX     int         // where the cursor was left, -1 when hidden
	atY     int
	clear   bool        // the terminal must be cleared first (after a resize)
	last    time.Time   // when the last frame was drawn
	timer   *time.Timer // draws a deferred frame; armed while one waits
	closed  bool
	bell    bool   // the bell rings with the next frame
	title   string // the terminal title set; "" when none is
	buf     []byte // the frame being written, reused
	err     error  // the first write error; nothing is written after one
}

// newFrameWriter returns a writer that draws at most one frame per
// interval on w.
func newFrameWriter(w io.Writer, interval time.Duration) *frameWriter {
	f := &frameWriter{w: w, interval: interval, atX: -1}
	f.timer = time.AfterFunc(time.Hour, f.drawDeferred)
	f.timer.Stop()
	return f
}

// start prepares the terminal: alternate screen, mouse and paste reports.
func (f *frameWriter) start() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.write(append(f.buf[:0], setupTerminal...))
}

// close draws the last frame if one is waiting and gives the terminal back
// as it was. Later frames are ignored.
func (f *frameWriter) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	f.timer.Stop()
	if f.pending {
		f.drawLocked()
	}
	b := append(f.buf[:0], restoreTerminal...)
	if f.title != "" {
		b = append(b, restoreTitle...)
	}
	f.write(b)
}

// resize notes a new terminal size: the terminal may have reflowed or
// cleared what was on it, so the next frame is drawn whole on a cleared
// screen.
func (f *frameWriter) resize() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clear = true
	f.pending = true
}

// frame hands the writer the screen's newest frame. The writer copies what
// it needs; fr may change once frame returns.
func (f *frameWriter) frame(fr *screenFrame) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	if !f.clear && !f.bell && slices.Equal(fr.rows, f.next.rows) && sameCursor(fr.cursor, f.next.cursor) && fr.title == f.next.title {
		return
	}
	rows := append(f.next.rows[:0], fr.rows...)
	f.next = *fr
	f.next.rows = rows
	f.pending = true
	if wait := f.interval - time.Since(f.last); wait > 0 {
		f.timer.Reset(wait) // a frame within the interval waits for its end
		return
	}
	f.drawLocked()
}

// ring has the bell rung with the frame handed to frame next.
func (f *frameWriter) ring() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bell = true
}

// alerts appends what sets the terminal's title to the newest frame's and
// rings the bell, if either is due, and reports whether anything changed.
// The first title pushes the terminal's own on its title stack, and the
// last pops it, where terminals keep one (xterm's XTWINOPS 22 and 23).
func (f *frameWriter) alerts(b []byte, changed bool) ([]byte, bool) {
	if title := f.next.title; title != f.title {
		switch {
		case title == "":
			b = append(b, restoreTitle...)
		case f.title == "":
			b = append(b, pushTitle...)
			fallthrough
		default:
			b = append(append(append(b, setTitle...), title...), endTitle...)
		}
		f.title = title
		changed = true
	}
	if f.bell {
		b = append(b, '\a')
		f.bell = false
		changed = true
	}
	return b, changed
}

// drawDeferred draws the frame that waited for the interval to pass.
func (f *frameWriter) drawDeferred() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed && f.pending {
		f.drawLocked()
	}
}

// drawLocked writes what changed between the terminal and the newest frame.
func (f *frameWriter) drawLocked() {
	f.pending = false
	f.last = time.Now()
	next, shown := &f.next, &f.shown
	b := append(f.buf[:0], hideCursor...)
	if f.clear || next.split != shown.split || next.scroll != shown.scroll {
		b = append(b, clearScreen...)
		shown.rows = shown.rows[:0]
		f.clear = false
	}
	b = f.scroll(b)
	changed := len(b) > len(hideCursor)
	for y, row := range next.rows {
		var was frameRow
		if y < len(shown.rows) {
			was = shown.rows[y]
		}
		left := row.left != was.left || row.pad != was.pad
		// A row of ASCII is as wide on every terminal as the model
		// measured it. Any other character may be drawn wider or
		// narrower (their widths are disputed): such a row is erased
		// whole, then drawn, then its right part drawn again at its
		// column, so that it neither pushes the member list nor leaves
		// old characters behind.
		certain := isASCII(row.left)
		if left {
			b = moveTo(b, 0, y)
			if row.right == "" || !certain {
				// Erase first: erasing after a row that fills the
				// screen's width would take its last character too.
				b = append(b, resetAndEraseLine...)
			}
			b = append(b, row.left...)
			if certain {
				b = append(b, spaces(row.pad)...)
			}
			changed = true
		}
		if row.right != was.right || left && !certain && row.right != "" {
			b = moveTo(b, next.split, y)
			if !left || certain {
				b = append(b, resetAndEraseRight...)
			}
			b = append(b, row.right...)
			changed = true
		}
	}
	for y := len(next.rows); y < len(shown.rows); y++ {
		if shown.rows[y] != (frameRow{}) {
			b = append(moveTo(b, 0, y), resetAndEraseLine...)
			changed = true
		}
	}
	b, changed = f.alerts(b, changed)
	shown.rows = append(shown.rows[:0], next.rows...)
	shown.split, shown.scroll = next.split, next.scroll
	x, y := -1, 0
	if next.cursor != nil {
		x, y = next.cursor.X, next.cursor.Y
	}
	if !changed && x == f.atX && y == f.atY {
		f.buf = b[:0]
		return // only the cursor could have moved, and it did not
	}
	if x >= 0 {
		b = append(moveTo(b, x, y), showCursor...)
	}
	f.atX, f.atY = x, y
	f.write(b)
}

// scroll appends what scrolls the terminal's scrollback region up when the
// newest frame's scrollback is the shown one moved up by some rows, and
// moves the shown rows to match. The rows that scrolled in are left blank,
// for drawLocked to fill.
func (f *frameWriter) scroll(b []byte) []byte {
	region := f.next.scroll
	if region < 2 || len(f.shown.rows) < region || len(f.next.rows) < region {
		return b
	}
	by := scrolledBy(f.shown.rows[:region], f.next.rows[:region])
	if by == 0 {
		return b
	}
	// Set the scrolling region to the scrollback's rows, go to its bottom
	// row and feed lines: the region scrolls up, the rows below it stay.
	b = append(b, "\x1b[1;"...)
	b = strconv.AppendInt(b, int64(region), 10)
	b = append(b, 'r')
	b = moveTo(b, 0, region-1)
	b = append(b, "\x1b[m"...)
	for range by {
		b = append(b, '\n')
	}
	b = append(b, "\x1b[r"...) // the whole screen again
	rows := f.shown.rows
	copy(rows, rows[by:region])
	clear(rows[region-by : region])
	return b
}

// scrolledBy returns by how many rows now is was moved up, the fewest that
// fit, or 0 when it is not. Rows that would scroll in are not compared:
// they are new.
func scrolledBy(was, now []frameRow) int {
	for by := 1; by < len(was); by++ {
		if !sameLeft(now[0], was[by]) {
			continue
		}
		if sameLefts(was[by:], now[:len(now)-by]) {
			return by
		}
	}
	return 0
}

// sameLefts reports whether the rows of a and b have the same left parts.
func sameLefts(a, b []frameRow) bool {
	for i := range a {
		if !sameLeft(a[i], b[i]) {
			return false
		}
	}
	return true
}

// sameLeft reports whether two rows are the same left of the split column.
func sameLeft(a, b frameRow) bool { return a.left == b.left && a.pad == b.pad }

// write sends b to the terminal in one write, unless an earlier write
// failed: the session is going away then.
func (f *frameWriter) write(b []byte) {
	f.buf = b[:0]
	if f.err != nil {
		return
	}
	_, f.err = f.w.Write(b)
}

// moveTo appends the sequence that moves the cursor to column x, row y,
// counted from 0.
func moveTo(b []byte, x, y int) []byte {
	b = append(b, "\x1b["...)
	b = strconv.AppendInt(b, int64(y+1), 10)
	b = append(b, ';')
	b = strconv.AppendInt(b, int64(x+1), 10)
	return append(b, 'H')
}

// isASCII reports whether s is all ASCII: printable characters and the
// escape sequences that style them.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func sameCursor(a, b *tea.Cursor) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Position == b.Position
}
