package jetlog

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
)

var (
	_ room.LogNamer = (*Log)(nil)
	_ room.LogEnd   = (*Log)(nil)
	_ room.LogStart = (*Log)(nil)
)

// logIDLen is the length of LogID: 24 base64url characters, 144 bits of a
// SHA-256, within room.LogNamer's 32 of A-Z a-z 0-9 _ -.
const logIDLen = 24

// logID names the stream called name created at created (StreamInfo's
// Created, in Unix nanoseconds): the same for as long as the stream lives,
// across restarts of chatd and of the server, and another for a stream
// created again under the same name, whose sequences start at 1 again.
func logID(name string, created int64) string {
	sum := sha256.Sum256([]byte("chatd log\x00" + name + "\x00" + strconv.FormatInt(created, 10)))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:logIDLen]
}

// LogID names the log for a client that resumes (room.LogNamer): derived
// from the stream's name and creation time, so it stays the same across
// restarts on the same stream and changes when the stream is created
// again, and, embedded, from the copy of the store (restore.go), so that
// it changes when a backup is restored.
func (l *Log) LogID() string { return l.id }

// LastSeq is the sequence number of the stream's last event (room.LogEnd),
// from the stream's state: still known when every event expired; 0 if the
// stream never held one.
func (l *Log) LastSeq() (uint64, error) {
	_, last, err := l.bounds()
	return last, err
}

// FirstSeq is the sequence number of the oldest event the stream holds
// (room.LogStart), or the one after its last if it holds none.
func (l *Log) FirstSeq() (uint64, error) {
	first, _, err := l.bounds()
	return first, err
}

// bounds returns the stream's first and last sequence numbers, the first
// being the one after the last when the stream holds nothing. A stream
// that ends below what the log saw breaks it (see breakWith).
func (l *Log) bounds() (first, last uint64, err error) {
	st, err := l.state()
	if err != nil {
		return 0, 0, err
	}
	first, last = bounds(st)
	return first, last, nil
}

// bounds returns the first and last sequence numbers of a stream in state
// st, the first being the one after the last when it holds nothing.
func bounds(st jetstream.StreamState) (first, last uint64) {
	if st.Msgs == 0 || st.FirstSeq == 0 || st.FirstSeq > st.LastSeq {
		return st.LastSeq + 1, st.LastSeq
	}
	return st.FirstSeq, st.LastSeq
}

// state returns the stream's state, ending at the last sequence the log
// had been acked for when it asked (never above: see reconcile.go). A
// stream that ends below that breaks the log (see breakWith).
func (l *Log) state() (jetstream.StreamState, error) {
	if err := l.brokenErr(); err != nil {
		return jetstream.StreamState{}, err
	}
	seen := l.lastSeq.Load() // before Info: what was acked by now, Info counts
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	defer cancel()
	info, err := l.stream.Info(ctx)
	if err != nil {
		return jetstream.StreamState{}, fmt.Errorf("jetlog: stream state: %w", l.connErr(err))
	}
	st := info.State
	if st.LastSeq < seen {
		return jetstream.StreamState{}, l.breakWith(ErrStreamWentBack, fmt.Sprintf("the stream ends at %d, but it had reached %d", st.LastSeq, seen))
	}
	// Above seen are messages the log was not acked for by then (stored
	// after their append failed, or another writer's): not the room's, for
	// now (Check reconciles them), or acked since, for the next read. A
	// shared stream's other writers append the room's events too: all of
	// it is the room's.
	if !l.opts.Shared {
		st.LastSeq = seen
	}
	return st, nil
}
