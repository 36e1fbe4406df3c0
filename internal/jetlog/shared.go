package jetlog

import (
	"errors"
	"time"

	"chatd/room"
)

// This file is the log shared by several chatd nodes (Options.Shared): the
// stream written by all of them, each reading it back in order through
// its own feed (Follow).

// Follower is a node's feed of the stream (Log.Follow): every event stored,
// whoever appended it, oldest first, once each.
type Follower struct{}

// Follow starts delivering, from a goroutine of its own, every event the
// stream stores after the sequence number after, in order, to deliver,
// until Stop. It survives the loss of the server: once reconnected it
// goes on after the last event delivered.
func (l *Log) Follow(after uint64, deliver func(*room.Event)) (*Follower, error) {
	return nil, errors.New("jetlog: Follow is not written yet")
}

// Stop ends the feed and waits for its goroutine.
func (f *Follower) Stop() {}

// Delivered returns the sequence number of the last event delivered.
func (f *Follower) Delivered() uint64 { return 0 }

// Lag returns how far the feed is behind the stream: the events stored
// but not yet delivered, and how long ago the oldest of them was stored
// (0 if none).
func (f *Follower) Lag() (events uint64, behind time.Duration) { return 0, 0 }

// AppendOnce appends ev as Append does, unless an event was appended with
// the same id within the stream's duplicate window: then it stores nothing
// and returns the sequence number of that event. Several nodes announcing
// the same thing (a dead node's members leaving) are heard once.
func (l *Log) AppendOnce(ev *room.Event, id string) (uint64, error) {
	return 0, errors.New("jetlog: AppendOnce is not written yet")
}
