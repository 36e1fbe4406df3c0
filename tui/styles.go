package tui

import (
	"strings"

	"charm.land/lipgloss/v2"
)

// paint is a style reduced to the escape sequences that go before and after
// the text it styles. Lipgloss works a style out again on every Render; a
// screen paints every span of every message, so each style is worked out
// once, here.
type paint struct{ pre, post string }

// paintOf reduces st to its paint.
func paintOf(st lipgloss.Style) paint {
	const mark = "x" // never part of an escape sequence
	out := st.Render(mark)
	i := strings.Index(out, mark)
	return paint{pre: out[:i], post: out[i+len(mark):]}
}

// Render returns s styled.
func (p paint) Render(s string) string {
	if s == "" || p.pre == "" {
		return s
	}
	return p.pre + s + p.post
}

// writeTo writes s styled to b.
func (p paint) writeTo(b *strings.Builder, s string) {
	if s == "" {
		return
	}
	b.WriteString(p.pre)
	b.WriteString(s)
	b.WriteString(p.post)
}

// styles are the looks of the chat screen. Colours are given as 256-colour
// indexes that read on dark and light backgrounds; a terminal with fewer
// colours gets them brought down (by Bubble Tea's renderer in cmd/chat, by
// colorWriter for SSH sessions).
type styles struct {
	time     paint // timestamps
	system   paint // joins, leaves, nick changes, member lists
	notice   paint // server notices
	errTag   paint // the "!!" before an error
	err      paint // error text
	private  paint // private messages, both directions
	mention  paint // your nick in someone else's message
	divider  paint // history markers
	status   paint // the status bar
	unread   paint // the "N new" marker in the status bar
	gone     paint // the status bar once you have left
	warning  paint // a warning from the connection, in the status bar
	panel    paint // the member list's separator
	panelHdr paint // the member list's title
	prompt   paint // the input prompt
	title    paint // the nickname screen's title
	hint     paint // help text on the nickname screen
}

func defaultStyles() styles {
	c := lipgloss.Color
	fg := func(code string) lipgloss.Style { return lipgloss.NewStyle().Foreground(c(code)) }
	bar := lipgloss.NewStyle().Background(c("236")).Foreground(c("252"))
	return styles{
		time:     paintOf(fg("244")),
		system:   paintOf(fg("244")),
		notice:   paintOf(fg("37")),
		errTag:   paintOf(fg("160").Bold(true)),
		err:      paintOf(fg("160")),
		private:  paintOf(fg("170")),
		mention:  paintOf(lipgloss.NewStyle().Background(c("220")).Foreground(c("16")).Bold(true)),
		divider:  paintOf(fg("240")),
		status:   paintOf(bar),
		unread:   paintOf(bar.Foreground(c("220")).Bold(true)),
		gone:     paintOf(bar.Foreground(c("203")).Bold(true)),
		warning:  paintOf(lipgloss.NewStyle().Background(c("160")).Foreground(c("231")).Bold(true)),
		panel:    paintOf(fg("240")),
		panelHdr: paintOf(lipgloss.NewStyle().Bold(true)),
		prompt:   paintOf(fg("244")),
		title:    paintOf(lipgloss.NewStyle().Bold(true)),
		hint:     paintOf(fg("244")),
	}
}

// nickPalette holds the colours nicks are drawn in: mid-tones that stay
// readable on both dark and light terminals.
var nickPalette = [...]string{
	"33", "38", "41", "44", "69", "74", "77", "98", "105", "110", "135", "141",
	"160", "166", "168", "172", "178", "70", "31", "37", "62", "130", "162", "208",
}

// nickPaints and actionPaints are the paints of nicks, and of the text of
// actions, one per colour of nickPalette.
var nickPaints, actionPaints = func() (nicks, actions [len(nickPalette)]paint) {
	for i, code := range nickPalette {
		col := lipgloss.Color(code)
		nicks[i] = paintOf(lipgloss.NewStyle().Foreground(col).Bold(true))
		actions[i] = paintOf(lipgloss.NewStyle().Foreground(col).Italic(true))
	}
	return nicks, actions
}()

// nickColor returns the index in nickPalette of the colour for nick: the
// same for everyone and on every screen, since it is derived from a hash of
// the lowercased nick.
func nickColor(nick string) int {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(nick); i++ {
		h ^= uint32(lowerASCII(nick[i]))
		h *= 16777619
	}
	return int(h % uint32(len(nickPalette)))
}

// nickStyle returns the paint a nick is drawn in.
func nickStyle(nick string) paint { return nickPaints[nickColor(nick)] }

// actionStyle returns the paint of the text of an action by nick.
func actionStyle(nick string) paint { return actionPaints[nickColor(nick)] }

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
