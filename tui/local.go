package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"

	"chatd/room"
)

// submit handles a line typed on the chat screen: the screen's own
// commands here, the others (all the room's) to the room.
func (m *Model) submit(line string) tea.Cmd {
	if strings.TrimSpace(room.Clean(line)) == "" || m.localCommand(line) || m.showCrypto(line) {
		return nil
	}
	m.conn.Send(line)
	if isHelp(line) {
		return m.askedHelp()
	}
	return nil
}

// localCommand runs line if it is one of the screen's own commands
// (/title, /bell), which never reach the room, and reports whether it was.
// Each takes on or off; without either it says how things are. A line is
// read as the room reads it (commandName): " /bell" is chat.
func (m *Model) localCommand(line string) bool {
	name := commandName(line)
	_, arg, _ := strings.Cut(strings.TrimRight(room.Clean(line), " "), " ")
	var state *bool
	var on, off string
	bellOn := !m.alert.bellOff
	switch name {
	case "/title":
		state = &m.alert.titleOn
		on = "The terminal's title shows your nick and how many messages came since you last pressed a key (/title off to stop)."
		off = "The terminal's title is left alone (/title on to show your nick and the messages unread in it)."
	case "/bell":
		state = &bellOn
		on = "The bell rings for a mention of your nick or a private message (/bell off to silence it)."
		off = "The bell is silenced (/bell on to ring it again)."
	default:
		return false
	}
	switch strings.ToLower(strings.TrimSpace(arg)) {
	case "on":
		*state = true
	case "off":
		*state = false
	case "":
	default:
		m.localEvent(room.Error, "usage: "+name+" on|off")
		return true
	}
	m.alert.bellOff = !bellOn
	if *state {
		m.localEvent(room.Notice, on)
	} else {
		m.localEvent(room.Notice, off)
	}
	return true
}

// localEvent shows text from the screen itself in the scrollback, as the
// room's notices and errors are shown.
func (m *Model) localEvent(kind room.Kind, text string) {
	m.sb.add(&room.Event{Kind: kind, Text: text, Time: m.rend.now()})
}
