package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	tea "charm.land/bubbletea/v2"

	"chatd/client"
	"chatd/room"
	"chatd/tui"
)

// runScreen runs the chat screen, the same one chatd's SSH sessions get,
// over the TLS session; title has it set the terminal's title. Ctrl+C
// quits the room politely. It returns the exit status: 0 if the user
// left, 1 otherwise.
func runScreen(ctx context.Context, session *client.Redialer, title bool) int {
	defer session.Close()
	pressedCtrlC := false
	model := tui.New(tui.Options{Conn: session, Title: title, OnLeave: func() {
		pressedCtrlC = true
		session.Send("/quit") // written before Run returns and the session closes
	}})
	program := newScreenProgram(ctx, model)
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		forward(session.Events(), program.Send)
	}()
	_, err := program.Run()
	program.close()
	session.Close() // ends the events, and so the forwarder
	<-forwarded
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		fmt.Fprintln(os.Stderr, "chat:", err)
		return 1
	}
	reason := model.Reason()
	if pressedCtrlC {
		reason = room.Reason{Kind: room.ReasonQuit}
	}
	if reason != (room.Reason{}) {
		fmt.Fprintf(os.Stderr, "chat: you left the room (%s)\n", reason)
	}
	if reason.Kind == room.ReasonQuit {
		return 0
	}
	return 1
}

// forward sends the session's events into the screen's program (send is
// its Send) as tui.EventsMsg, each carrying what is queued, up to
// tui.MaxBatch events, until the events end; the last message says so.
// Send returns once the program has taken a message, so one batch at a time
// is in flight and the rest wait in the session's bounded queue; once the
// program has ended, Send returns at once and the rest is dropped.
func forward(events <-chan *room.Event, send func(tea.Msg)) {
	for {
		msg := nextBatch(events)
		send(msg)
		if msg.Closed {
			return
		}
	}
}

// nextBatch waits for the next event and returns it together with whatever
// else is already queued, up to tui.MaxBatch events, or the end of the
// events.
func nextBatch(events <-chan *room.Event) tui.EventsMsg {
	ev, ok := <-events
	if !ok {
		return tui.EventsMsg{Closed: true}
	}
	batch := []*room.Event{ev}
	for len(batch) < tui.MaxBatch {
		select {
		case ev, ok := <-events:
			if !ok {
				return tui.EventsMsg{Events: batch, Closed: true}
			}
			batch = append(batch, ev)
		default:
			return tui.EventsMsg{Events: batch}
		}
	}
	return tui.EventsMsg{Events: batch}
}
