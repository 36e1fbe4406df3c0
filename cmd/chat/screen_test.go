package main

import (
	"fmt"
	"testing"

	tea "charm.land/bubbletea/v2"

	"chatd/room"
	"chatd/tui"
)

// TestForwarderBatchesQueuedEvents: what is queued goes to the screen in
// one message, up to tui.MaxBatch; the end of the events is the last
// message, with the events before it.
func TestForwarderBatchesQueuedEvents(t *testing.T) {
	events := make(chan *room.Event, 2*tui.MaxBatch)
	for i := range 5 {
		events <- &room.Event{Kind: room.Chat, From: "bob", Text: fmt.Sprint(i)}
	}
	if msg := nextBatch(events); len(msg.Events) != 5 || msg.Closed {
		t.Fatalf("batch of %d, closed %v", len(msg.Events), msg.Closed)
	}
	for range tui.MaxBatch + 1 {
		events <- &room.Event{Kind: room.Chat, From: "bob", Text: "more"}
	}
	close(events)
	var got []tui.EventsMsg
	forward(events, func(msg tea.Msg) { got = append(got, msg.(tui.EventsMsg)) })
	if len(got) != 2 || len(got[0].Events) != tui.MaxBatch || got[0].Closed || len(got[1].Events) != 1 || !got[1].Closed {
		t.Fatalf("forwarded %d messages: %+v", len(got), got)
	}
}
