package tui

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// members is the member list the screen keeps from events: a Members event
// replaces it and live Join, Leave and NickChange events update it. It is
// sorted case-insensitively, like the room's own lists. In a big room the
// Members event lists only some of the members and joins and leaves come as
// Presence summaries: the list is then partial, and total is kept from the
// counts.
type members struct {
	nicks []string
	total int // members in the room; at least len(nicks)
}

func compareNicks(a, b string) int {
	return cmp.Or(cmp.Compare(strings.ToLower(a), strings.ToLower(b)), strings.Compare(a, b))
}

// set replaces the list: nicks, of count members in all (0 when nicks are
// all of them).
func (m *members) set(nicks []string, count int) {
	m.nicks = slices.Clone(nicks)
	slices.SortFunc(m.nicks, compareNicks)
	m.nicks = slices.CompactFunc(m.nicks, strings.EqualFold)
	m.total = max(count, len(m.nicks))
}

// setCount sets how many members there are, from a Presence summary.
func (m *members) setCount(count int) { m.total = max(count, len(m.nicks)) }

// add inserts nick unless it is already listed.
func (m *members) add(nick string) {
	if m.index(nick) >= 0 {
		return
	}
	i, _ := slices.BinarySearchFunc(m.nicks, nick, compareNicks)
	m.nicks = slices.Insert(m.nicks, i, nick)
	m.total++
}

// remove takes nick out of the list, or out of the count of the members
// not listed.
func (m *members) remove(nick string) {
	if i := m.index(nick); i >= 0 {
		m.nicks = slices.Delete(m.nicks, i, i+1)
	} else if m.total <= len(m.nicks) {
		return // not a member
	}
	m.total--
}

// rename replaces from with to, if from is listed.
func (m *members) rename(from, to string) {
	if m.index(from) < 0 {
		return // one of the members not listed
	}
	m.remove(from)
	m.add(to)
}

// index finds nick, ignoring case as the room does.
func (m *members) index(nick string) int {
	return slices.IndexFunc(m.nicks, func(n string) bool { return strings.EqualFold(n, nick) })
}

// len returns how many members there are, listed or not.
func (m *members) len() int { return m.total }

// panelWidth is the member panel's width for a screen width columns wide,
// the gap and separator on its left included, or 0 when the screen is too
// narrow to show it. It depends only on the screen width, so that people
// joining never change the width messages are wrapped to.
func panelWidth(width int) int {
	if width < minWidthForPanel {
		return 0
	}
	return 2 + min(max(width/5, 14), 24)
}

// minWidthForPanel is the narrowest screen that shows the member list.
const minWidthForPanel = 60

// view draws the panel: height rows, each exactly width columns including
// the gap and separator on the left. self is marked.
func (m *members) view(width, height int, self string, st *styles) []string {
	rows := make([]string, height)
	inner := width - 3 // gap, separator and a space
	sep := " " + st.panel.Render("│") + " "
	pad := func(s string, w int) string { return s + strings.Repeat(" ", max(0, inner-w)) }
	if height == 0 || inner <= 0 {
		return rows
	}
	title := ansi.Truncate("members ("+strconv.Itoa(m.total)+")", inner, "…")
	rows[0] = sep + pad(st.panelHdr.Render(title), ansi.StringWidth(title))
	shown := m.nicks
	if m.total > height-1 {
		shown = shown[:min(len(shown), max(0, height-2))]
	}
	more := m.total - len(shown)
	for i := 1; i < height; i++ {
		switch j := i - 1; {
		case j < len(shown):
			nick := ansi.Truncate(shown[j], inner-2, "…")
			mark := "  "
			if strings.EqualFold(shown[j], self) {
				mark = "• "
			}
			rows[i] = sep + pad(mark+nickStyle(shown[j]).Render(nick), 2+ansi.StringWidth(nick))
		case j == len(shown) && more > 0:
			text := ansi.Truncate("+"+strconv.Itoa(more)+" more", inner, "…")
			rows[i] = sep + pad(st.system.Render(text), ansi.StringWidth(text))
		default:
			rows[i] = sep + pad("", 0)
		}
	}
	return rows
}
