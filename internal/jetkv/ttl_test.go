package jetkv

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestLive: a stored message is a value unless it is a marker or its
// Nats-TTL (as the server reads it) has passed; TTLs go to the server in
// whole seconds, rounded up.
func TestLive(t *testing.T) {
	stored := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		h     nats.Header
		after time.Duration
		live  bool
	}{
		{nil, time.Hour, true},
		{nats.Header{"KV-Operation": {"DEL"}}, 0, false},
		{nats.Header{"KV-Operation": {"PURGE"}}, 0, false},
		{nats.Header{"Nats-Marker-Reason": {"MaxAge"}}, 0, false},
		{nats.Header{"Nats-TTL": {"2s"}}, 1999 * time.Millisecond, true},
		{nats.Header{"Nats-TTL": {"2s"}}, 2 * time.Second, false},
		{nats.Header{"Nats-TTL": {"2.9s"}}, 2 * time.Second, false}, // the server truncates
		{nats.Header{"Nats-TTL": {"60"}}, 59 * time.Second, true},
		{nats.Header{"Nats-TTL": {"60"}}, time.Minute, false},
		{nats.Header{"Nats-TTL": {"never"}}, 1000 * time.Hour, true},
		{nats.Header{"Nats-TTL": {"-5"}}, time.Hour, true},
		{nats.Header{"Nats-TTL": {"99999999999999999999"}}, time.Hour, true},
		{nats.Header{"Nats-TTL": {"junk"}}, time.Hour, true},
	} {
		if got := live(c.h, stored, stored.Add(c.after)); got != c.live {
			t.Errorf("live(%v) %v after = %v, want %v", c.h, c.after, got, c.live)
		}
	}
	for d, want := range map[time.Duration]time.Duration{
		1: time.Second, time.Second: time.Second, 1500 * time.Millisecond: 2 * time.Second, time.Hour: time.Hour,
	} {
		if got := wholeSeconds(d); got != want {
			t.Errorf("wholeSeconds(%v) = %v, want %v", d, got, want)
		}
	}
}
