package tui

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"chatd/room"
)

// wrapPieces are what the random messages of TestWrapProperties are made
// of: words short and long, CJK without spaces, emoji of every shape the
// room lets through, combining marks, runs of spaces, and marks alone,
// which join the space before them into one grapheme cluster (" \u093e").
var wrapPieces = []func(r *rand.Rand) string{
	func(r *rand.Rand) string { return strings.Repeat("w", 1+r.IntN(12)) },
	func(r *rand.Rand) string { return strings.Repeat("long", 10+r.IntN(70)) },
	func(r *rand.Rand) string { return "https://example.com/" + strings.Repeat("a/b", r.IntN(60)) },
	func(r *rand.Rand) string { return strings.Repeat("你好世界", 1+r.IntN(30)) },
	func(r *rand.Rand) string { return strings.Repeat("日本語のテキスト、", 1+r.IntN(10)) },
	func(r *rand.Rand) string { return strings.Repeat("한국어", 1+r.IntN(10)) },
	func(r *rand.Rand) string { return strings.Repeat("👨‍👩‍👧‍👦", 1+r.IntN(8)) },
	func(r *rand.Rand) string { return strings.Repeat("🇩🇪🇯🇵", 1+r.IntN(8)) },
	func(r *rand.Rand) string { return strings.Repeat("👍🏽", 1+r.IntN(8)) },
	func(r *rand.Rand) string { return strings.Repeat("1️⃣#️⃣", 1+r.IntN(5)) },
	func(r *rand.Rand) string { return strings.Repeat("e\u0301a\u0308", 1+r.IntN(10)) },
	func(r *rand.Rand) string { return "क" + strings.Repeat("\u093e", r.IntN(300)) }, // one cluster, as wide as it likes
	func(r *rand.Rand) string { return strings.Repeat("ab你", 1+r.IntN(20)) },
	func(r *rand.Rand) string { return "alice" },
	func(*rand.Rand) string { return "" }, // two spaces in a row, which Clean makes one
	func(r *rand.Rand) string { return wrapMarks[r.IntN(len(wrapMarks))] },
	func(r *rand.Rand) string { return wrapMarks[r.IntN(len(wrapMarks))] + "x" },
}

// wrapMarks are combining and spacing marks (Devanagari, Thai, Hangul
// vowel, acute accent, variation selector) that a space before them takes
// into its grapheme cluster.
var wrapMarks = []string{"\u093e", "\u0903", "\u0e33", "\u1161", "\u0301", "\ufe0f"}

// randomText joins a few random pieces with spaces. A third of the texts
// start with a space: the room trims only the right end of a message, so
// the space after "bob:" and the body's own meet, and two spaces are next
// to each other after all.
func randomText(r *rand.Rand) string {
	var parts []string
	if r.IntN(3) == 0 {
		parts = append(parts, "")
	}
	for range 1 + r.IntN(8) {
		parts = append(parts, wrapPieces[r.IntN(len(wrapPieces))](r))
	}
	return strings.Join(parts, " ")
}

// prefixOf is how the screen starts a message of kind from nick, before
// its text, at t0.
func prefixOf(kind room.Kind, nick string) string {
	switch kind {
	case room.Action:
		return "12:34 * " + nick + " "
	case room.Private:
		return "12:34 [PM from " + nick + "] "
	}
	return "12:34 " + nick + ": "
}

// TestWrapProperties lays out random messages (long words, CJK, emoji
// sequences, combining marks; long and short nicks) at every width from 2
// to 200 and checks every row: none is wider than the screen; the rows,
// without their indent, are the message's text in order, cut only at
// spaces or between grapheme clusters (a cluster is cut only when it is
// wider than a row); and the first row holds some of the text after the
// sender's name whenever the name and the text's first character fit on a
// row, so that no name is left alone on a row.
func TestWrapProperties(t *testing.T) {
	st := defaultStyles()
	rend := renderer{st: &st, loc: time.UTC, method: ansi.WcWidth, now: time.Now, self: "alice"}
	rng := rand.New(rand.NewPCG(1, 13))
	nicks := []string{"b", "bob", "someone-with-a-long-nick", strings.Repeat("n", 32)}
	kinds := []room.Kind{room.Chat, room.Action, room.Private}
	for n := range 96 {
		text := room.Clean(randomText(rng))
		nick := nicks[n%len(nicks)]
		kind := kinds[n%len(kinds)]
		e := &room.Event{Kind: kind, From: nick, To: "alice", Text: text, Time: t0}
		prefix := prefixOf(kind, nick)
		plain := prefix + text
		bounds := clusterBounds(plain)
		for w := 2; w <= 200; w++ {
			lines := rend.render(e, w)
			checkWrapped(t, w, lines, plain, len(prefix), bounds)
			if t.Failed() {
				t.Fatalf("width %d, message %q", w, plain)
			}
		}
	}
}

// TestWrapMarkAfterLeadingSpace: a message body that starts with a space
// and a spacing mark (" \u093e", which the room lets through: it trims
// only the right end) makes the space after the sender's name and the
// body's space meet, and the second space and the mark are one grapheme
// cluster. It crashed every screen 3 to 42 columns wide; now it is laid
// out like any other text, for every nick length, kind and width.
func TestWrapMarkAfterLeadingSpace(t *testing.T) {
	st := defaultStyles()
	rend := renderer{st: &st, loc: time.UTC, method: ansi.WcWidth, now: time.Now, self: "alice"}
	texts := []string{" \u093e", " \u093e\u093e x", " \u0903 ab", "a \u093e", strings.Repeat("ab \u093e", 60),
		strings.Repeat("x \u0e33", 60), strings.Repeat("x \u1161 ", 60), " \u0301"}
	for _, raw := range texts {
		text := room.Clean(raw)
		for n := 1; n <= room.MaxNickLen; n += 3 {
			nick := strings.Repeat("b", n)
			for _, kind := range []room.Kind{room.Chat, room.Action, room.Private} {
				e := &room.Event{Kind: kind, From: nick, To: "alice", Text: text, Time: t0}
				prefix := prefixOf(kind, nick)
				plain := prefix + text
				bounds := clusterBounds(plain)
				for w := 1; w <= 80; w++ {
					checkWrapped(t, w, rend.render(e, w), plain, len(prefix), bounds)
					if t.Failed() {
						t.Fatalf("width %d, message %q", w, plain)
					}
				}
			}
		}
	}
}

// TestMarkAfterSpaceThroughTheRoom sends " \u093e" through a real room and
// shows what another member receives on screens 1 to 60 columns wide.
func TestMarkAfterSpaceThroughTheRoom(t *testing.T) {
	r := room.New(room.Config{})
	bob, err := r.Join("bob", room.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := r.Join("alice", room.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	alice.Take(nil, 100)
	bob.Send(" \u093e")
	evs, _ := alice.Take(nil, 100)
	var got *room.Event
	for _, e := range evs {
		if e.Kind == room.Chat {
			got = e
		}
	}
	if got == nil || got.Text != " \u093e" {
		t.Fatalf("alice got %v, want the text with its leading space", evs)
	}
	for w := 1; w <= 60; w++ {
		m, _ := newTestModel(t, "alice", w, 24)
		feed(m, membersEv("alice", "bob"), got)
		if rows := m.screen(); rows == nil {
			t.Fatalf("no screen at width %d", w)
		}
	}
}

// TestClampSpan: a span wrap got wrong is cut to the text, start never
// after end, so the screen shows an odd line rather than crashing.
func TestClampSpan(t *testing.T) {
	for _, tc := range []struct{ in, want span }{
		{span{2, 5}, span{2, 5}},
		{span{6, 5}, span{5, 5}},
		{span{-1, 20}, span{0, 10}},
		{span{12, 15}, span{10, 10}},
	} {
		if got := clampSpan(tc.in, 10); got != tc.want {
			t.Errorf("clampSpan(%v, 10) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// checkWrapped checks the rendered lines of plain, whose body starts at
// byte body, at width w; bounds are plain's clusterBounds.
func checkWrapped(t *testing.T, w int, lines []line, plain string, body int, bounds map[int]int) {
	t.Helper()
	rows := make([]string, len(lines))
	for i, l := range lines {
		rows[i] = ansi.Strip(l.s)
		if got := ansi.StringWidthWc(rows[i]); got != l.w || l.w > w {
			t.Errorf("row %d is %d wide (says %d) on %d columns: %q", i, got, l.w, w, rows[i])
		}
	}
	if w < 3 {
		return // a double-width character does not fit beside the indent
	}
	indent := 0
	pos := 0
	for i, row := range rows {
		if i == 1 {
			indent = skipSpaces(row, 0) // not into a " \u093e" that starts the text
			if indent == 0 {
				t.Errorf("continuation row without an indent: %q", row)
			}
		}
		content := row[min(indent, len(row)):]
		if i > 0 {
			pos = skipSpaces(plain, pos)
		}
		if !strings.HasPrefix(plain[pos:], content) {
			t.Errorf("row %d is %q; the text goes on %q", i, row, plain[pos:])
			return
		}
		pos += len(content)
		limit := w - indent
		if i == 0 {
			limit = w
		}
		// Inside a cluster only one wider than a row may be cut.
		if c := bounds[pos]; c > 0 && c <= limit {
			t.Errorf("row %d ends inside a grapheme cluster %d wide: %q", i, c, row)
		}
	}
	if pos = skipSpaces(plain, pos); pos != len(plain) {
		t.Errorf("text lost: %q", plain[pos:])
	}
	prefixW := ansi.StringWidthWc(plain[:body])
	if body < len(plain) && prefixW+firstClusterWidth(plain[body:]) <= w && len(rows[0]) <= body {
		t.Errorf("the sender's name is alone on its row: %q", rows[0])
	}
}

// clusterBounds maps the byte offsets inside a grapheme cluster of s to
// the cluster's width; the others are where clusters start and end.
func clusterBounds(s string) map[int]int {
	bounds := map[int]int{}
	for i := 0; i < len(s); {
		c, w := ansi.FirstGraphemeCluster(s[i:], ansi.WcWidth)
		for j := i + 1; j < i+len(c); j++ {
			bounds[j] = max(w, 1)
		}
		i += len(c)
	}
	return bounds
}

func firstClusterWidth(s string) int {
	_, w := ansi.FirstGraphemeCluster(s, ansi.WcWidth)
	return w
}

// TestLongWordsBreakAtTheWidth: a word wider than a row is broken where it
// stands, filling the first row after the sender's name, and CJK text
// without spaces fills every row; a word that fits on a row of its own
// still moves down whole.
func TestLongWordsBreakAtTheWidth(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		w    int
		want []string
	}{
		{"long word", strings.Repeat("x", 70), 40, []string{
			"12:34 bob: " + strings.Repeat("x", 29),
			"           " + strings.Repeat("x", 29),
			"           " + strings.Repeat("x", 12)}},
		{"long word after others", "see " + strings.Repeat("y", 40), 30, []string{
			"12:34 bob: see " + strings.Repeat("y", 15),
			"           " + strings.Repeat("y", 19),
			"           " + strings.Repeat("y", 6)}},
		{"word that fits a row", "hello wonderful", 24, []string{
			"12:34 bob: hello",
			"           wonderful"}},
		{"cjk", strings.Repeat("你好世界", 5), 30, []string{
			"12:34 bob: 你好世界你好世界你",
			"           好世界你好世界你好",
			"           世界"}},
		{"cjk after a word", "ok " + strings.Repeat("世", 12), 24, []string{
			"12:34 bob: ok 世世世世世",
			"           世世世世世世",
			"           世"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newTestModel(t, "alice", tc.w, 10)
			feed(m, chat("bob", tc.text))
			var got []string
			for _, r := range screen(m)[:8] {
				if r = strings.TrimRight(r, " "); r != "" {
					got = append(got, r)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
