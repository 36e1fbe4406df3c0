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
	"PgUp/PgDn Scroll a page; Shift+Up/Down a row; or the mouse wheel. Past the top, older events load from the room's log.",
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

// maxPendingHelp bounds the /help answers waited for: more typed in a row
// (faster than the room answers) are still sent, but their keys not shown.
const maxPendingHelp = 16

// helpState follows the /help the person typed. The room answers each in
// turn, so the answers end in the order they were asked: each end (or an
// error) shows the keys after the oldest answer still awaited.
type helpState struct {
	pending []int // the generations of the /help whose answers have not ended, oldest first
	gen     int   // counts the /help typed, so that the timeout of one answered is ignored
}

// commandName is the command a typed line runs, as the room reads it:
// cleaned and trimmed on the right only (a line starting with a space is
// chat), its first word in lower case; "" for a line that runs none.
func commandName(line string) string {
	text := strings.TrimRight(room.Clean(line), " ")
	if !strings.HasPrefix(text, "/") {
		return ""
	}
	name, _, _ := strings.Cut(text, " ")
	return strings.ToLower(name)
}

// isHelp reports whether line is the room's /help command.
func isHelp(line string) bool {
	return commandName(line) == "/help"
}

// askedHelp notes that the person sent /help and returns the command that
// ends the wait for the answer.
func (m *Model) askedHelp() tea.Cmd {
	if len(m.help.pending) >= maxPendingHelp {
		return nil
	}
	m.help.gen++
	gen := m.help.gen
	m.help.pending = append(m.help.pending, gen)
	return tea.Tick(helpWait, func(time.Time) tea.Msg { return helpTimeoutMsg{gen: gen} })
}

// noteHelp shows the screen's keys once the room's answer to the oldest
// /help awaited has ended with ev.
func (m *Model) noteHelp(ev *room.Event) {
	if len(m.help.pending) == 0 {
		return
	}
	if ev.Kind == room.Error || ev.Kind == room.Notice && ev.Text == room.LiteralSlashHelp {
		m.help.pending = m.help.pending[1:]
		m.showKeys()
	}
}

// helpTimedOut shows the keys if the room has not answered the /help of
// msg's generation, and stops waiting for it and for any asked before it.
func (m *Model) helpTimedOut(msg helpTimeoutMsg) {
	for i, gen := range m.help.pending {
		if gen == msg.gen {
			m.help.pending = m.help.pending[i+1:]
			m.showKeys()
			return
		}
	}
}

// showKeys adds the screen's keys to the scrollback.
func (m *Model) showKeys() {
	for _, text := range screenHelp {
		m.localEvent(room.Notice, text)
	}
}
