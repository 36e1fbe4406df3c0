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
// sorted case-insensitively, like the room's own lists.
type members struct {
	nicks []string
}

func compareNicks(a, b string) int {
	return cmp.Or(cmp.Compare(strings.ToLower(a), strings.ToLower(b)), strings.Compare(a, b))
}

// set replaces the list.
func (m *members) set(nicks []string) {
	m.nicks = slices.Clone(nicks)
	slices.SortFunc(m.nicks, compareNicks)
	m.nicks = slices.CompactFunc(m.nicks, strings.EqualFold)
}

// add inserts nick unless it is already listed.
func (m *members) add(nick string) {
	if m.index(nick) >= 0 {
		return
	}
	i, _ := slices.BinarySearchFunc(m.nicks, nick, compareNicks)
	m.nicks = slices.Insert(m.nicks, i, nick)
}

// remove takes nick out of the list, if it is there.
func (m *members) remove(nick string) {
	if i := m.index(nick); i >= 0 {
		m.nicks = slices.Delete(m.nicks, i, i+1)
	}
}

// rename replaces from with to.
func (m *members) rename(from, to string) {
	m.remove(from)
	m.add(to)
}

// index finds nick, ignoring case as the room does.
func (m *members) index(nick string) int {
	return slices.IndexFunc(m.nicks, func(n string) bool { return strings.EqualFold(n, nick) })
}

func (m *members) len() int { return len(m.nicks) }

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
	title := ansi.Truncate("members ("+strconv.Itoa(len(m.nicks))+")", inner, "…")
	rows[0] = sep + pad(st.panelHdr.Render(title), ansi.StringWidth(title))
	shown := m.nicks
	more := 0
	if len(shown) > height-1 {
		shown = shown[:max(0, height-2)]
		more = len(m.nicks) - len(shown)
	}
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
