package proto

import (
	"testing"
	"time"

	"chatd/room"
)

// TestStoreNoticesRoundTrip: the room's notices about its store keep
// their Store through the line protocol, so that a client can tell them
// by type; other notices and errors have none.
func TestStoreNoticesRoundTrip(t *testing.T) {
	for _, ev := range []room.Event{
		{Kind: room.Notice, Time: stamp, Text: room.ReadOnlyNotice, Store: room.StoreReadOnly},
		{Kind: room.Error, Time: stamp, Text: room.ReadOnlyText, Store: room.StoreReadOnly},
		{Kind: room.Notice, Time: stamp, Text: room.WritableNotice, Store: room.StoreWritable},
		{Kind: room.Notice, Time: stamp, Text: room.ReadOnlyText}, // not the notice
		{Kind: room.Error, Time: stamp, Text: room.WritableNotice},
	} {
		line := string(AppendEvent(nil, &ev))
		got := ParseLine(line[:len(line)-1], stamp.Add(time.Hour))
		if !sameEvent(got, &ev) || got.Store != ev.Store {
			t.Errorf("ParseLine(%q) = %+v, want %+v", line, *got, ev)
		}
	}
}
