package tui

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"chatd/room"
)

// line is one row of the scrollback: styled text and its display width.
type line struct {
	s string
	w int
}

// renderer turns events into styled, wrapped lines.
type renderer struct {
	st     *styles
	loc    *time.Location
	method ansi.Method
	now    func() time.Time
	self   string // your nick: mentions of it are highlighted
}

// run is a styled byte range of the text being laid out.
type run struct {
	start, end int
	style      paint
}

// layout collects an event's text as plain text plus style runs, so that it
// can be wrapped by display width first and styled afterwards.
type layout struct {
	plain     strings.Builder
	runs      []run
	bodyStart int // where the text after the prefix starts, for the hanging indent
}

func (l *layout) add(text string, st paint) {
	if text == "" {
		return
	}
	start := l.plain.Len()
	l.plain.WriteString(text)
	l.runs = append(l.runs, run{start, l.plain.Len(), st})
}

// body adds the event's main text and marks where it starts. Whole-word,
// case-insensitive occurrences of self are drawn with mention.
func (l *layout) body(text string, st paint, self string, mention *paint) {
	l.bodyStart = l.plain.Len()
	if mention == nil || self == "" {
		l.add(text, st)
		return
	}
	from := 0
	for _, m := range findMentions(text, self) {
		l.add(text[from:m.start], st)
		l.add(text[m.start:m.end], *mention)
		from = m.end
	}
	l.add(text[from:], st)
}

// render lays ev out for a screen width columns wide.
func (r *renderer) render(ev *room.Event, width int) []line {
	return r.renderTimes(ev, nil, width)
}

// renderTimes lays ev out for a screen width columns wide; a HistoryBegin
// shows the times of its replay, when known.
func (r *renderer) renderTimes(ev *room.Event, times *timeRange, width int) []line {
	var l layout
	st := r.st
	t := ev.Time
	if t.IsZero() {
		t = r.now()
	}
	stamp := t.In(r.loc).Format("15:04") + " "
	l.add(stamp, st.time)
	from, to, text := room.Clean(ev.From), room.Clean(ev.To), room.Clean(ev.Text)
	var mention *paint
	if from != r.self {
		mention = &st.mention
	}
	switch ev.Kind {
	case room.Chat:
		l.add(from, nickStyle(from))
		l.add(": ", paint{})
		l.body(text, paint{}, r.self, mention)
	case room.Action:
		ns := nickStyle(from)
		l.add("* ", ns)
		l.add(from, ns)
		l.add(" ", paint{})
		l.body(text, actionStyle(from), r.self, mention)
	case room.Private:
		l.add("[PM from ", st.private)
		l.add(from, nickStyle(from))
		l.add("] ", st.private)
		l.body(text, st.private, "", nil)
	case room.PrivateSent:
		l.add("[PM to ", st.private)
		l.add(to, nickStyle(to))
		l.add("] ", st.private)
		l.body(text, st.private, "", nil)
	case room.Join:
		l.add("--> ", st.system)
		l.body("", st.system, "", nil)
		l.add(from, nickStyle(from))
		l.add(" joined", st.system)
	case room.Leave:
		l.add("<-- ", st.system)
		l.body("", st.system, "", nil)
		l.add(from, nickStyle(from))
		if why := room.Clean(ev.Reason.String()); why != "" {
			l.add(" left ("+why+")", st.system)
		} else {
			l.add(" left", st.system)
		}
	case room.NickChange:
		l.add("-- ", st.system)
		l.body("", st.system, "", nil)
		l.add(from, nickStyle(from))
		l.add(" is now known as ", st.system)
		l.add(to, nickStyle(to))
	case room.Members:
		l.add("-- ", st.system)
		l.body("", st.system, "", nil)
		n := max(ev.Count, len(ev.Nicks))
		l.add(countOf(n, "member", "members")+": ", st.system)
		for i, nick := range ev.Nicks {
			if i > 0 {
				l.add(", ", st.system)
			}
			nick = room.Clean(nick)
			l.add(nick, nickStyle(nick))
		}
		if more := n - len(ev.Nicks); more > 0 {
			l.add(" and "+strconv.Itoa(more)+" more", st.system)
		}
	case room.Presence:
		l.add("-- ", st.system)
		l.body(presenceText(ev), st.system, "", nil)
	case room.Error:
		l.add("!! ", st.errTag)
		l.body(text, st.err, "", nil)
	case room.Bye:
		if words := ev.Reason.Farewell(); words != "" {
			text = room.Clean(words) // sent away: said plainly, as the last thing
		} else if text == "" {
			text = room.Clean(ev.Reason.String())
		}
		if ev.Reason.Involuntary() {
			l.add("!! ", st.errTag)
			l.body(text, st.err, "", nil)
		} else {
			l.add("-- ", st.notice)
			l.body(text, st.notice, "", nil)
		}
	case room.HistoryBegin:
		l.add("── ", st.divider)
		l.body(historyTitle(times, r.now(), r.loc), st.divider, "", nil)
		l.add(" ──", st.divider)
	case room.HistoryEnd:
		l.add("── ", st.divider)
		l.body("now", st.divider, "", nil)
		l.add(" ──", st.divider)
	default: // Notice, and anything newer than this screen
		l.add("-- ", st.notice)
		l.body(text, st.notice, "", nil)
	}
	return l.lines(width, r.method)
}

// lines wraps the layout to width with a hanging indent under the body.
func (l *layout) lines(width int, method ansi.Method) []line {
	plain := l.plain.String()
	prefixW := method.StringWidth(plain[:l.bodyStart])
	indent := prefixW
	if indent > width/2 {
		// A long prefix (long nick, narrow screen) would leave too little
		// room; indent under the timestamp instead.
		indent = min(6, width/2)
	}
	spans := wrap(plain, width, width-indent, l.bodyStart, prefixW, method)
	out := make([]line, 0, len(spans))
	pad := ""
	for i, sp := range spans {
		sp = clampSpan(sp, len(plain))
		var b strings.Builder
		if i == 1 && indent > 0 {
			pad = spaces(indent)
		}
		b.WriteString(pad)
		for _, rn := range l.runs {
			start, end := max(rn.start, sp.start), min(rn.end, sp.end)
			if start >= end {
				continue
			}
			rn.style.writeTo(&b, plain[start:end])
		}
		ln := line{s: b.String(), w: len(pad) + method.StringWidth(plain[sp.start:sp.end])}
		if ln.w > width {
			// A double-width character alone on a row too narrow for it
			// beside the indent (a screen of two columns): leave it out.
			ln = line{s: pad, w: len(pad)}
		}
		out = append(out, ln)
	}
	return out
}

// clampSpan keeps sp inside a text n bytes long with its start no later
// than its end, so that a wrong break in wrap shows a line cut oddly
// instead of crashing the screen: a message comes from anyone.
func clampSpan(sp span, n int) span {
	sp.end = min(max(sp.end, 0), n)
	sp.start = min(max(sp.start, 0), sp.end)
	return sp
}

// countOf says n things: "1 member", "2 members".
func countOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// presenceText sums up a Presence event: "12 joined, 3 left, 10009 members
// now".
func presenceText(ev *room.Event) string {
	var parts []string
	if ev.Joined > 0 {
		parts = append(parts, strconv.Itoa(ev.Joined)+" joined")
	}
	if ev.Left > 0 {
		parts = append(parts, strconv.Itoa(ev.Left)+" left")
	}
	parts = append(parts, countOf(ev.Count, "member", "members")+" now")
	return strings.Join(parts, ", ")
}

// findMentions returns the byte ranges of whole-word, ASCII case-insensitive
// occurrences of nick in text. Nicks are ASCII, so a match never starts or
// ends inside a multi-byte character.
func findMentions(text, nick string) []span {
	var out []span
	for i := 0; ; {
		at := nextMention(text, nick, i)
		if at < 0 {
			return out
		}
		out = append(out, span{at, at + len(nick)})
		i = at + len(nick)
	}
}

// nextMention returns where the first whole-word, ASCII case-insensitive
// occurrence of nick in text at or after from starts, or -1.
func nextMention(text, nick string, from int) int {
	n := len(nick)
	if n == 0 {
		return -1
	}
	for i := from; i+n <= len(text); i++ {
		if i > 0 && room.IsNickByte(text[i-1]) {
			continue
		}
		if !equalFoldASCII(text[i:i+n], nick) {
			continue
		}
		if i+n < len(text) && room.IsNickByte(text[i+n]) {
			continue
		}
		return i
	}
	return -1
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}
