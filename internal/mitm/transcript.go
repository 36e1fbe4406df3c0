package mitm

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Direction is which way a line crossed the proxy.
type Direction int

// The two directions.
const (
	ToServer Direction = iota // from the client to the real server
	ToClient                  // from the real server to the client
)

// String is the direction as the transcript shows it.
func (d Direction) String() string {
	if d == ToClient {
		return "<- server"
	}
	return "-> server"
}

// MaxLine is how many bytes of a line the transcript prints on one line
// of its own; a longer line, or one that never ends, is printed in parts
// of MaxLine bytes.
const MaxLine = 1024

// transcript prints what crosses the proxy, one whole line per Write, so
// that the lines of concurrent connections never interleave.
type transcript struct {
	now func() time.Time
	mu  sync.Mutex
	out io.Writer
	// The limits of the lines any client can cause in numbers, by kind.
	failures, refusals limit
	closed             bool // Close has said what the limits held back
}

// limit lets one line a second through; it counts the others, and says
// how many at the end of that second (a timer), or with the next line it
// lets through, or at Close, whichever comes first.
type limit struct {
	what       string // what it counts, as the count's line says it
	last       time.Time
	suppressed int
	lastWho    net.Addr    // the client of the last line not printed
	timer      *time.Timer // set while a count waits to be said
}

// MaxRepeatedEvents is how many handshake failures, and how many
// refusals (--max-conns), the transcript prints a second: the others are
// counted, and the count printed when that second ends.
const MaxRepeatedEvents = 1

func newTranscript(out io.Writer, now func() time.Time) *transcript {
	t := &transcript{out: out, now: now}
	t.failures.what = "handshake failures"
	t.refusals.what = "refused connections"
	return t
}

// print writes one transcript line: the time, the client's address, what
// kind of line it is (the proxy's words) and text (which may hold the
// peers' words: shown with Visible).
// A text longer than MaxLine bytes is cut there, its length said.
func (t *transcript) print(who net.Addr, kind, text string) {
	t.printLimited(who, kind, text, nil)
}

// printLimited prints unless lim has let a line through in the last
// second, in which case it counts it, and makes sure that the count is
// said when that second ends. Once the transcript is closed, nothing is
// held back.
func (t *transcript) printLimited(who net.Addr, kind, text string, lim *limit) {
	now := t.now()
	shown := Visible(cut(text))
	t.mu.Lock()
	defer t.mu.Unlock()
	if lim != nil && !t.closed {
		window := time.Second / MaxRepeatedEvents
		if !lim.last.IsZero() && now.Sub(lim.last) < window {
			lim.suppressed++
			lim.lastWho = who
			if lim.timer == nil {
				var timer *time.Timer
				timer = time.AfterFunc(min(max(lim.last.Add(window).Sub(now), 0), window), func() {
					t.mu.Lock()
					defer t.mu.Unlock()
					if lim.timer == timer { // not stopped, nor replaced, since
						lim.timer = nil
						t.sayHeldBack(lim)
					}
				})
				lim.timer = timer
			}
			return
		}
		lim.last = now
		if lim.suppressed > 0 {
			shown += fmt.Sprintf(" (and %d more like it in the second before, not printed)", lim.suppressed)
			lim.suppressed = 0
		}
		t.stopTimer(lim)
	}
	t.write(now, who, kind, shown)
}

// write prints one line; t.mu is held.
func (t *transcript) write(now time.Time, who net.Addr, kind, shown string) {
	line := fmt.Sprintf("%s %s %s %s\n", now.UTC().Format("15:04:05.000"), who, kind, shown)
	io.WriteString(t.out, line) // a transcript that cannot be written is not the relay's problem
}

// sayHeldBack prints how many lines lim held back, if any, under the
// address of the last of them; t.mu is held.
func (t *transcript) sayHeldBack(lim *limit) {
	if lim.suppressed == 0 {
		return
	}
	t.write(t.now(), lim.lastWho, "***", fmt.Sprintf("%d more %s in the second before, not printed (the last from this address)", lim.suppressed, lim.what))
	lim.suppressed = 0
}

// stopTimer stops lim's timer, if set; t.mu is held. A timer that fires
// all the same finds itself no longer lim's and does nothing.
func (t *transcript) stopTimer(lim *limit) {
	if lim.timer != nil {
		lim.timer.Stop()
		lim.timer = nil
	}
}

// Close says what the limits still hold back and stops their timers;
// lines printed after it are not limited (the connections are gone by
// then: the listener closes the transcript once they are).
func (t *transcript) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	for _, lim := range []*limit{&t.failures, &t.refusals} {
		t.stopTimer(lim)
		t.sayHeldBack(lim)
	}
}

// cut shortens a text longer than MaxLine bytes to its first MaxLine (a
// whole character), followed by its length.
func cut(text string) string {
	if len(text) <= MaxLine {
		return text
	}
	i := MaxLine
	for i > 0 && !utf8.RuneStart(text[i]) {
		i--
	}
	return text[:i] + fmt.Sprintf("…(%d bytes)", len(text))
}

// event prints what happened to a connection.
func (t *transcript) event(who net.Addr, text string) { t.print(who, "***", text) }

// failure prints a failed handshake, at most MaxRepeatedEvents a second.
func (t *transcript) failure(who net.Addr, text string) {
	t.printLimited(who, "***", text, &t.failures)
}

// refusal prints a connection refused, at most MaxRepeatedEvents a
// second.
func (t *transcript) refusal(who net.Addr, text string) {
	t.printLimited(who, "***", text, &t.refusals)
}

// line prints one line (or part of one) of a direction.
func (t *transcript) line(who net.Addr, kind, text string) { t.print(who, kind+":", text) }

// lines returns a writer that prints what is written to it as the lines
// of one direction of who's connection. Close prints what is left.
func (t *transcript) lines(who net.Addr, dir Direction) *lineWriter {
	return &lineWriter{t: t, who: who, kind: dir.String(), ends: "\n", pending: make([]byte, 0, MaxLine)}
}

// typed returns a writer that prints what an SSH user types, a line per
// Enter (a terminal sends \r).
func (t *transcript) typed(who net.Addr) *lineWriter {
	return &lineWriter{t: t, who: who, kind: ToServer.String() + " (ssh, typed)", ends: "\r\n", pending: make([]byte, 0, MaxLine)}
}

// lineWriter cuts one direction's bytes into lines for the transcript. It
// holds at most MaxLine bytes of a line not yet ended.
type lineWriter struct {
	t       *transcript
	who     net.Addr
	kind    string // what the transcript calls these lines
	ends    string // the bytes that end a line
	pending []byte
}

// Write prints every line b ends and keeps the rest; it never fails.
func (w *lineWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		room := MaxLine - len(w.pending)
		i := bytes.IndexAny(b[:min(len(b), room)], w.ends)
		if i >= 0 {
			w.pending = append(w.pending, b[:i]...)
			w.t.line(w.who, w.kind, string(w.pending))
			w.pending = w.pending[:0]
			b = b[i+1:]
			continue
		}
		take := min(len(b), room)
		w.pending = append(w.pending, b[:take]...)
		b = b[take:]
		if len(w.pending) == MaxLine {
			w.flushPart()
		}
	}
	return n, nil
}

// flushPart prints a full buffer as part of a longer line, keeping an
// incomplete UTF-8 sequence at its end for the next part.
func (w *lineWriter) flushPart() {
	cut := len(w.pending)
	for i := len(w.pending) - 1; i >= 0 && i >= len(w.pending)-utf8.UTFMax; i-- {
		if utf8.RuneStart(w.pending[i]) {
			if !utf8.FullRune(w.pending[i:]) && i > 0 {
				cut = i
			}
			break
		}
	}
	w.t.line(w.who, w.kind+" (part of a longer line)", string(w.pending[:cut]))
	w.pending = append(w.pending[:0], w.pending[cut:]...)
}

// Close prints a last line that never ended.
func (w *lineWriter) Close() error {
	if len(w.pending) > 0 {
		w.t.line(w.who, w.kind+" (no newline before the end)", string(w.pending))
		w.pending = w.pending[:0]
	}
	return nil
}

// MaxMarks is how many combining marks in a row (nonspacing, spacing or
// enclosing: Unicode's M) Visible shows as they are on one character; more (a stack that draws over other lines, or hides
// what is under it) are escaped.
const MaxMarks = 2

// blank holds the printable characters that draw nothing: the Hangul
// fillers, the blank Braille pattern, the combining grapheme joiner.
var blank = map[rune]bool{'\u115f': true, '\u1160': true, '\u3164': true, '\uffa0': true, '\u2800': true, '\u034f': true}

// Visible returns text as the transcript shows it: printable characters as
// they are, and everything a terminal would act on or that draws nothing
// made visible in Go's escape syntax instead: control characters (\x1b,
// \r, \t, \x00), C1 controls, escape sequences (their ESC shown as \x1b),
// bidirectional and other format characters, line separators, non-ASCII
// spaces, private use and unassigned code points (\u202e, \U000e0041),
// characters that draw nothing (the Hangul fillers \u3164, \u115f, \u1160,
// \uffa0, the blank Braille pattern \u2800, the combining grapheme joiner
// \u034f), combining marks beyond MaxMarks in a row, and invalid UTF-8
// bytes (\xff). A backslash is doubled, so what looks like an
// escape always is one. What the peers send can then neither drive the
// operator's terminal nor hide from the operator.
func Visible(text string) string {
	var b strings.Builder
	marks := 0 // combining marks in a row, of every kind (Mn, Mc, Me)
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if unicode.Is(unicode.M, r) {
			marks++
		} else {
			marks = 0
		}
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, text[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r == ' ' || unicode.IsPrint(r) && !unicode.Is(unicode.Variation_Selector, r) && !blank[r] && marks <= MaxMarks:
			b.WriteString(text[i : i+size])
		default:
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// SyncWriter returns a writer that passes each Write to w whole, one at a
// time: the TLS and SSH proxies share a terminal through one.
func SyncWriter(w io.Writer) io.Writer { return &syncWriter{w: w} }

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}
