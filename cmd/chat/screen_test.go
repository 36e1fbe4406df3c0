package main

import (
	"fmt"
	"testing"

	tea "charm.land/bubbletea/v2"

	"chatd/client"
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
	forward(&fakeSource{events: events}, func(msg tea.Msg) { got = append(got, msg.(tui.EventsMsg)) })
	if len(got) != 2 || len(got[0].Events) != tui.MaxBatch || got[0].Closed || len(got[1].Events) != 1 || !got[1].Closed {
		t.Fatalf("forwarded %d messages: %+v", len(got), got)
	}
}

// fakeSource is a session's events and link for forward.
type fakeSource struct {
	events  chan *room.Event
	changed chan struct{}
	link    client.Link
}

func (f *fakeSource) Events() <-chan *room.Event   { return f.events }
func (f *fakeSource) LinkChanged() <-chan struct{} { return f.changed }
func (f *fakeSource) Link() client.Link            { return f.link }

// TestForwarderShowsEventsBeforeTheLinkChange: when the connection is lost,
// the events that came before go to the screen before the news.
func TestForwarderShowsEventsBeforeTheLinkChange(t *testing.T) {
	src := &fakeSource{changed: make(chan struct{}, 1), link: client.Link{Down: true, Why: "connection refused"}}
	var got []tea.Msg
	send := func(msg tea.Msg) {
		got = append(got, msg)
		if _, ok := msg.(tui.LinkMsg); ok {
			close(src.events)
		}
	}
	for range 50 { // select picks either ready case: try it many times
		got = got[:0]
		src.events = make(chan *room.Event, 8)
		src.events <- &room.Event{Kind: room.Chat, From: "bob", Text: "last words"}
		src.changed <- struct{}{}
		forward(src, send)
		if len(got) != 3 {
			t.Fatalf("forwarded %d messages: %+v", len(got), got)
		}
		if ev, ok := got[0].(tui.EventsMsg); !ok || len(ev.Events) != 1 {
			t.Fatalf("first message %+v, want the chat line", got[0])
		}
		if l, ok := got[1].(tui.LinkMsg); !ok || !l.Down || l.Why != "connection refused" {
			t.Fatalf("second message %+v, want the link down", got[1])
		}
	}
}
