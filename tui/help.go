package tui

import (
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"chatd/room"
)

// /help on a screen shows the room's commands, as on every connection, and
// after them the screen's own keys and commands, which the room does not
// know. The room's list ends with room.LiteralSlashHelp; the keys follow
// it, or an error (the room refused the /help), or helpWait without an
// answer (no connection).

// screenHelp is what the screen adds to /help.
var screenHelp = []string{
	"Keys on this screen:",
	"PgUp/PgDn Scroll a page; Shift+Up/Down a row; or the mouse wheel.",
	"End Back to the newest messages (and to the end of the typed line).",
	"Up/Down Recall the lines you typed.",
	"Ctrl+W/Ctrl+U/Ctrl+K Delete a word, to the line's start, to its end.",
	"Shift+drag Select text to copy (plain dragging goes to the screen).",
	"Ctrl+C Leave the room.",
	"/title on|off Your nick and unread count in the terminal's title (off by default).",
	"/bell on|off The bell for a mention of your nick or a private message (on by default).",
}

// helpWait is how long the screen waits for the room's answer to /help
// before it shows its own keys anyway.
const helpWait = 3 * time.Second

// helpTimeoutMsg ends the wait for the room's answer to the /help of
// generation gen.
type helpTimeoutMsg struct{ gen int }

// helpState follows a /help the person typed.
type helpState struct {
	pending bool // the room's answer has not ended yet
	gen     int  // counts the /help typed, so that a late timeout is ignored
}

// isHelp reports whether line is the room's /help command.
func isHelp(line string) bool {
	name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	return strings.EqualFold(name, "/help")
}

// askedHelp notes that the person sent /help and returns the command that
// ends the wait for the answer.
func (m *Model) askedHelp() tea.Cmd {
	m.help.pending = true
	m.help.gen++
	gen := m.help.gen
	return tea.Tick(helpWait, func(time.Time) tea.Msg { return helpTimeoutMsg{gen: gen} })
}

// noteHelp shows the screen's keys once the room's answer to /help has
// ended with ev.
func (m *Model) noteHelp(ev *room.Event) {
	if !m.help.pending {
		return
	}
	if ev.Kind == room.Error || ev.Kind == room.Notice && ev.Text == room.LiteralSlashHelp {
		m.showKeys()
	}
}

// helpTimedOut shows the keys if the room has not answered the /help of
// msg's generation.
func (m *Model) helpTimedOut(msg helpTimeoutMsg) {
	if m.help.pending && msg.gen == m.help.gen {
		m.showKeys()
	}
}

// showKeys adds the screen's keys to the scrollback.
func (m *Model) showKeys() {
	m.help.pending = false
	for _, text := range screenHelp {
		m.localEvent(room.Notice, text)
	}
}
