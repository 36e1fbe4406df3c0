package client

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"chatd/room"
	"chatd/tlsgw"
)

// switchLog is a room.Log whose Appends and Checks fail while down is set.
type switchLog struct {
	*room.MemoryLog
	down atomic.Bool
}

var errStoreDown = errors.New("store down")

func (l *switchLog) Append(ev *room.Event) (uint64, error) {
	if l.down.Load() {
		return 0, errStoreDown
	}
	return l.MemoryLog.Append(ev)
}

func (l *switchLog) Check(context.Context) error {
	if l.down.Load() {
		return errStoreDown
	}
	return nil
}

// TestReadOnlyRoomLinesAreNotEchoed: while the server says its room is
// read-only, a line the user types is not echoed on its screen (nobody is
// shown it); the server's refusal is; once the room is writable again,
// lines are echoed again.
func TestReadOnlyRoomLinesAreNotEchoed(t *testing.T) {
	l := &switchLog{MemoryLog: room.NewMemoryLog(100)}
	ts := startServer(t, tlsgw.Config{Room: room.New(room.Config{Log: l, Logger: slog.New(slog.DiscardHandler)})})
	trust := Trust{CAFile: ts.caFile(t)}
	tlsCfg, err := trust.ClientTLSConfig(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Addr: ts.addr, Nick: "alice", TLS: tlsCfg}
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRedialer(context.Background(), RedialConfig{Conn: cfg, Trust: trust, Echo: true, MinBackoff: 20 * time.Millisecond}, c)
	defer r.Close()
	bob := ts.join(t, "bob")
	nextWhere(t, r.Events(), "bob's join", func(ev *room.Event) bool { return ev.Kind == room.Join && ev.From == "bob" })

	l.down.Store(true)
	bob.send("this fails")
	nextWhere(t, r.Events(), "the read-only notice", func(ev *room.Event) bool {
		return ev.Kind == room.Notice && ev.Store == room.StoreReadOnly
	})
	r.Send("typed while read-only")
	refused := nextWhere(t, r.Events(), "an event", func(*room.Event) bool { return true })
	if refused.Kind != room.Error || refused.Store != room.StoreReadOnly {
		t.Errorf("after a line typed while read-only: %v %q (Store %d), want the refusal and no echo",
			refused.Kind, refused.Text, refused.Store)
	}

	l.down.Store(false)
	nextWhere(t, r.Events(), "the writable notice", func(ev *room.Event) bool {
		return ev.Kind == room.Notice && ev.Store == room.StoreWritable
	})
	r.Send("back")
	echo := nextWhere(t, r.Events(), "an event", func(*room.Event) bool { return true })
	if echo.Kind != room.Chat || echo.From != "alice" || echo.Text != "back" {
		t.Errorf("after a line typed once writable: %v %q, want its echo", echo.Kind, echo.Text)
	}
	bob.expect("<alice> back")
}
