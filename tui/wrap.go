package tui

import (
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// span is a byte range of a text.
type span struct{ start, end int }

// wrap breaks plain text (no escape sequences) into lines: the first at most
// first display columns wide, the others at most rest. body is where the
// text after a prefix such as "12:34 alice: " starts (0 for text without
// one), and prefixW the prefix's width.
//
// Lines break at spaces, dropping the spaces at the break, and next to a
// double-width character (CJK text has no spaces, and may break between
// any two of its characters). A word that would not fit on a line of its
// own, at rest columns, is not moved down but broken at the width where it
// stands. While the prefix fits on the first line, the first line is never
// broken before the body starts, so a prefix is never left alone on a row.
//
// Widths are measured per grapheme cluster with method, and a cluster is
// never split, unless it is wider than a whole line: then it is broken
// between its code points (as a terminal that measures code points draws
// it anyway). Limits below 1 are raised to 1; a line holds at least one
// code point, so only a double-width character on a one-column line makes
// a line wider than its limit.
func wrap(text string, first, rest, body, prefixW int, method ansi.Method) []span {
	w := wrapper{text: text, method: method, rest: max(rest, 1), limit: max(first, 1), minBreak: 1,
		out: make([]span, 0, 2)} // most messages take a line or two: one allocation
	if body > 0 && body < len(text) && prefixW+w.clusterWidthAt(body) <= w.limit {
		w.minBreak = body + 1
	}
	return w.run()
}

// wrapper is the state of one wrap.
type wrapper struct {
	text     string
	method   ansi.Method
	rest     int // the limit of every line but the first
	limit    int // the limit of the current line
	minBreak int // no line ends before this (the prefix stays with its body)

	out       []span
	lineStart int
	lineW     int
	brk       breakAt // the last place on this line where it may break
}

// breakAt is a place where a line may break: the line would end at end and
// the next one start at next (after the spaces between). end is 0 when
// there is none.
type breakAt struct{ end, next int }

// run wraps the whole text.
func (w *wrapper) run() []span {
	text := w.text
	prevWide, prevSpace := false, false
	spaceStart := 0 // where the run of spaces that i is in (or last was) starts
	for i := 0; i < len(text); {
		cluster, cw := ansi.FirstGraphemeCluster(text[i:], w.method)
		if cluster == "" { // cannot happen with valid input; never loop forever
			cluster = text[i : i+1]
		}
		if cw > w.limit && w.lineW == 0 {
			i = w.codePoints(i, i+len(cluster))
			prevWide, prevSpace = false, false
			continue
		}
		space := cluster == " "
		wide := cw >= 2
		switch {
		case space && !prevSpace:
			spaceStart = i
			w.mark(i, skipSpaces(text, i))
		case !space && i > 0 && !prevSpace && (wide || prevWide):
			w.mark(i, i)
		}
		if w.lineW+cw > w.limit && i > w.lineStart {
			i = w.breakBefore(i, space, spaceStart)
			prevWide, prevSpace = false, false
			continue
		}
		w.lineW += cw
		i += len(cluster)
		prevWide, prevSpace = wide, space
	}
	if w.lineStart < len(text) || len(w.out) == 0 {
		w.out = append(w.out, span{w.lineStart, len(text)})
	}
	return w.out
}

// codePoints lays out text[i:end], a grapheme cluster wider than a whole
// line, one code point at a time, and returns end.
func (w *wrapper) codePoints(i, end int) int {
	for i < end {
		r, size := utf8.DecodeRuneInString(w.text[i:end])
		rw := w.method.StringWidth(string(r))
		if w.lineW+rw > w.limit && i > w.lineStart {
			w.out = append(w.out, span{w.lineStart, i})
			w.lineStart, w.lineW, w.brk, w.limit = i, 0, breakAt{}, w.rest
		}
		w.lineW += rw
		i += size
	}
	return end
}

// mark notes a place where the line may break, if it is allowed there.
func (w *wrapper) mark(end, next int) {
	if end > w.lineStart && end >= w.minBreak {
		w.brk = breakAt{end, next}
	}
}

// breakBefore ends the line before the cluster at i, which does not fit,
// and returns where the next line starts. When that cluster is a space
// (space), the line ends where its run of spaces starts (spaceStart, but
// never leaving the line empty). Otherwise it ends at the last place
// marked, unless what would be moved down is a word too wide for a line of
// its own: then the word is broken at i. Every place it returns or ends a
// line at is between two grapheme clusters.
func (w *wrapper) breakBefore(i int, space bool, spaceStart int) int {
	end, next := i, i
	switch {
	case space:
		end, next = max(spaceStart, w.lineStart+1), skipSpaces(w.text, i)
	case w.brk.end > 0 && w.brk.next <= i && w.wordWidth(w.brk.next, i) <= w.rest:
		end, next = w.brk.end, w.brk.next
	}
	w.out = append(w.out, span{w.lineStart, end})
	w.lineStart, w.lineW, w.brk, w.limit = next, 0, breakAt{}, w.rest
	return next
}

// wordWidth returns the width of the word that starts at from and runs past
// i, up to the next place a line may break; it stops counting once the
// word is wider than rest.
func (w *wrapper) wordWidth(from, i int) int {
	width := w.method.StringWidth(w.text[from:i])
	prevWide := false
	for j := i; j < len(w.text) && width <= w.rest; {
		cluster, cw := ansi.FirstGraphemeCluster(w.text[j:], w.method)
		if cluster == "" || cluster == " " || j > i && (cw >= 2 || prevWide) {
			break
		}
		width += cw
		prevWide = cw >= 2
		j += len(cluster)
	}
	return width
}

// clusterWidthAt returns the width of the grapheme cluster at byte i.
func (w *wrapper) clusterWidthAt(i int) int {
	_, cw := ansi.FirstGraphemeCluster(w.text[i:], w.method)
	return cw
}

// skipSpaces returns where the run of spaces at byte i of s ends: it
// moves over whole grapheme clusters that are a lone space, so it never
// stops inside a cluster (a space followed by a combining or spacing mark,
// " \u093e", is one cluster, and not a space).
func skipSpaces(s string, i int) int {
	for i < len(s) && s[i] == ' ' {
		if c, _ := ansi.FirstGraphemeCluster(s[i:], ansi.GraphemeWidth); c != " " {
			break
		}
		i++
	}
	return i
}
