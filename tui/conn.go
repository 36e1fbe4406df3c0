// Package tui is chatd's chat screen: a Bubble Tea model (scrollback, member
// list, status and input lines, the nickname prompt) and the frame writer
// that draws it when many screens share one process (Framed).
//
// The screen knows the room only through the events it receives on a Conn
// (package room's Event kinds) and the lines it hands back, so the same model
// serves an SSH session, which joins the room in-process, and the bundled
// client, which decodes the same events from the TLS line protocol.
package tui

import (
	tea "charm.land/bubbletea/v2"

	"chatd/room"
)

// Conn is what the chat screen needs from whatever carries it to the room.
// *room.Member satisfies it as is.
type Conn interface {
	// Send hands a typed line to the room, commands included. It is called
	// from the screen's update loop and must not block for long.
	Send(line string)
	// Events is the stream of events for this member, in order. It is closed
	// when the member has left; Reason then says why.
	Events() <-chan *room.Event
	// Nick is the member's current nickname.
	Nick() string
	// Reason says why the member left, once Events is closed.
	Reason() room.Reason
}

// StatusReporter is implemented by a Conn that has a state worth showing in
// the status line, such as the bundled client's "reconnecting" or its
// unverified connection. The screen asks whenever it draws.
type StatusReporter interface {
	// Status returns a few words for the status line, or "", and whether
	// they are a warning, drawn in red.
	Status() (text string, warning bool)
}

// maxBatch bounds how many queued events one message to the model carries,
// so a burst is drawn once rather than event by event, without holding the
// update loop for long.
const maxBatch = 256

// eventsMsg carries events read from a Conn to the model. closed reports that
// the stream ended after evs.
type eventsMsg struct {
	evs    []*room.Event
	closed bool
}

// listen returns a command that waits for the next event on c and returns it
// together with whatever else is already queued. The room never waits on it:
// its outbox for this member is bounded, and the model asks for the next
// batch as soon as it has applied one.
func listen(c Conn) tea.Cmd {
	return func() tea.Msg {
		ch := c.Events()
		ev, ok := <-ch
		if !ok {
			return eventsMsg{closed: true}
		}
		evs := []*room.Event{ev}
		for len(evs) < maxBatch {
			select {
			case ev, ok := <-ch:
				if !ok {
					return eventsMsg{evs: evs, closed: true}
				}
				evs = append(evs, ev)
			default:
				return eventsMsg{evs: evs}
			}
		}
		return eventsMsg{evs: evs}
	}
}
