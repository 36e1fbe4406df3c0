package tui

import (
	"image/color"

	"charm.land/lipgloss/v2"
)

// styles are the looks of the chat screen. Colours are given as 256-colour
// indexes that read on dark and light backgrounds; Bubble Tea downsamples
// them to what each session's terminal supports.
type styles struct {
	time     lipgloss.Style // timestamps
	system   lipgloss.Style // joins, leaves, nick changes, member lists
	notice   lipgloss.Style // server notices
	errTag   lipgloss.Style // the "!!" before an error
	err      lipgloss.Style // error text
	private  lipgloss.Style // private messages, both directions
	mention  lipgloss.Style // your nick in someone else's message
	divider  lipgloss.Style // history markers
	status   lipgloss.Style // the status bar
	unread   lipgloss.Style // the "N new" marker in the status bar
	gone     lipgloss.Style // the status bar once you have left
	warning  lipgloss.Style // a warning from the connection, in the status bar
	panel    lipgloss.Style // the member list's separator
	panelHdr lipgloss.Style // the member list's title
	prompt   lipgloss.Style // the input prompt
	title    lipgloss.Style // the nickname screen's title
	hint     lipgloss.Style // help text on the nickname screen
}

func defaultStyles() styles {
	c := lipgloss.Color
	bar := lipgloss.NewStyle().Background(c("236")).Foreground(c("252"))
	return styles{
		time:     lipgloss.NewStyle().Foreground(c("244")),
		system:   lipgloss.NewStyle().Foreground(c("244")),
		notice:   lipgloss.NewStyle().Foreground(c("37")),
		errTag:   lipgloss.NewStyle().Foreground(c("160")).Bold(true),
		err:      lipgloss.NewStyle().Foreground(c("160")),
		private:  lipgloss.NewStyle().Foreground(c("170")),
		mention:  lipgloss.NewStyle().Background(c("220")).Foreground(c("16")).Bold(true),
		divider:  lipgloss.NewStyle().Foreground(c("240")),
		status:   bar,
		unread:   bar.Foreground(c("220")).Bold(true),
		gone:     bar.Foreground(c("203")).Bold(true),
		warning:  lipgloss.NewStyle().Background(c("160")).Foreground(c("231")).Bold(true),
		panel:    lipgloss.NewStyle().Foreground(c("240")),
		panelHdr: lipgloss.NewStyle().Bold(true),
		prompt:   lipgloss.NewStyle().Foreground(c("244")),
		title:    lipgloss.NewStyle().Bold(true),
		hint:     lipgloss.NewStyle().Foreground(c("244")),
	}
}

// nickPalette holds the colours nicks are drawn in: mid-tones that stay
// readable on both dark and light terminals.
var nickPalette = [...]string{
	"33", "38", "41", "44", "69", "74", "77", "98", "105", "110", "135", "141",
	"160", "166", "168", "172", "178", "70", "31", "37", "62", "130", "162", "208",
}

// nickColor returns the colour for nick: the same for everyone and on every
// screen, since it is derived from a hash of the lowercased nick.
func nickColor(nick string) color.Color {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(nick); i++ {
		h ^= uint32(lowerASCII(nick[i]))
		h *= 16777619
	}
	return lipgloss.Color(nickPalette[h%uint32(len(nickPalette))])
}

// nickStyle returns the style a nick is drawn in.
func nickStyle(nick string) lipgloss.Style {
	return lipgloss.NewStyle().Foreground(nickColor(nick)).Bold(true)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
