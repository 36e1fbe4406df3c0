// Package tui is chatd's chat screen: a Bubble Tea model (scrollback, member
// list, status and input lines, the nickname prompt) and the frame writer
// that draws it for SSH sessions and cmd/chat (Framed).
//
// The screen knows the room only through the events sent into its program
// (EventsMsg, of package room's Event kinds) and the lines it hands back on
// a Conn, so the same model serves an SSH session, which joins the room
// in-process, and the bundled client, which decodes the same events from
// the TLS line protocol.
package tui

import (
	tea "charm.land/bubbletea/v2"

	"chatd/room"
)

// Conn is what the chat screen needs from whatever carries it to the room.
// The room's events do not come through it: whoever runs the program sends
// them in as EventsMsg (see there).
type Conn interface {
	// Send hands a typed line to the room, commands included. It is called
	// from the screen's update loop and must not block for long.
	Send(line string)
	// Nick is the member's current nickname.
	Nick() string
	// Reason says why the member left, once an EventsMsg said so (Closed).
	Reason() room.Reason
}

// Starter is implemented by a Conn whose events wait until the screen asks
// for them: the screen calls Start, once, from a command, when it shows the
// chat on the Conn (as the program starts for Options.Conn, after the join
// for the nickname prompt). Events sent before that would reach a screen
// that is not showing the chat yet; and a program that never runs never
// asks, so nothing is left waiting to send to it.
type Starter interface {
	Start()
}

// StatusReporter is implemented by a Conn that has a state worth showing in
// the status line, such as how the bundled client trusted the server, or
// its unverified connection. The screen asks whenever it draws; while a
// LinkMsg says the connection is down, the status line says that instead.
type StatusReporter interface {
	// Status returns a few words for the status line, or "", and whether
	// they are a warning, drawn in red.
	Status() (text string, warning bool)
}

// NotSentReporter is implemented by a Conn that passes on the person's
// own chat lines and actions as they are sent, before the room stored
// them (the bundled client: its server does not send them back). NotSent
// reports whether the room refused ev, one of those lines, because its
// store had failed; the Conn knows it by the time it passes on the
// refusal (an Error whose Store is room.StoreReadOnly). The screen then
// marks the line NotSentMark rather than leave it looking sent. It is
// called from the update loop and must not block.
type NotSentReporter interface {
	NotSent(ev *room.Event) bool
}

// NotSentMark ends a line of the person's own that the room refused.
const NotSentMark = " (not sent)"

// MaxBatch bounds how many events one EventsMsg should carry, so that a
// burst is drawn once rather than event by event, without holding the
// update loop for long.
const MaxBatch = 256

// EventsMsg carries the member's events, in order, into the screen's
// program (tea.Program.Send). Closed reports that the member has left after
// Events: the screen shows the Conn's Reason and quits after
// Options.LeaveDelay. Send one message at a time, as Bubble Tea does: the
// next waits until the screen has taken this one, so a sender that cannot
// keep up falls behind in its own bounded queue (the room skips events for
// it and tells it so), never in the program's.
type EventsMsg struct {
	Events []*room.Event
	Closed bool
}

// startEvents returns a command that asks c for its events if it waits to
// be asked (Starter), or nil.
func startEvents(c Conn) tea.Cmd {
	s, ok := c.(Starter)
	if !ok {
		return nil
	}
	return func() tea.Msg {
		s.Start()
		return nil
	}
}
