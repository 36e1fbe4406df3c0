package jetkv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"chatd/access"
	"chatd/access/backendtest"
	"chatd/internal/jetlog"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quiet is a logger for tests that expect warnings.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testMax is the bound on records the table's Backends are opened with,
// so that filling a bucket is quick.
const testMax = backendtest.MinRecords

// embedded starts the room's log on an embedded server with its store in
// dir, as chatd does, closed at the test's end.
func embedded(t *testing.T, dir string) *jetlog.Log {
	t.Helper()
	l, err := jetlog.Open(context.Background(), jetlog.Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func open(t *testing.T, nc *nats.Conn, o Options) *Backend {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quiet
	}
	b, err := Open(t.Context(), nc, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return b
}

// factory runs the table on nc, each Backend under a prefix of its own.
func factory(nc *nats.Conn) backendtest.Factory {
	var n atomic.Int64
	return backendtest.Factory{
		Open: func(t *testing.T) access.Backend {
			return open(t, nc, Options{Prefix: fmt.Sprintf("T%d_", n.Add(1)), MaxRecords: testMax, Timeout: 5 * time.Second})
		},
		Reopen: func(t *testing.T, b access.Backend) access.Backend {
			return open(t, nc, b.(*Backend).opts)
		},
		Share: func(t *testing.T, b access.Backend) access.Backend {
			return open(t, nc, b.(*Backend).opts)
		},
		ExpiryTold: true,
		MaxRecords: testMax,
	}
}

// TestEmbedded runs the table on the embedded server chatd starts.
func TestEmbedded(t *testing.T) {
	backendtest.Run(t, factory(embedded(t, t.TempDir()).Conn()))
}

// TestOpen: the buckets are named after the prefix, have a Backend's
// bounds, and a second Open finds them as they are.
func TestOpen(t *testing.T) {
	nc := embedded(t, t.TempDir()).Conn()
	b := open(t, nc, Options{})
	if err := b.Put(t.Context(), access.Bans, "mallory", []byte("ban"), 0); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	for _, name := range access.BucketNames {
		kv, err := js.KeyValue(t.Context(), "CHATD_"+strings.ToUpper(string(name)))
		if err != nil {
			t.Fatalf("bucket of %s: %v", name, err)
		}
		st, _ := kv.Status(t.Context())
		info := st.(*jetstream.KeyValueBucketStatus).StreamInfo()
		if st.History() != 1 || info.Config.MaxMsgs != access.MaxRecords || info.Config.MaxMsgSize < access.MaxRecordBytes || !info.Config.AllowMsgTTL ||
			info.Config.Replicas != 1 || info.Config.SubjectDeleteMarkerTTL != expiryMarkerTTL {
			t.Errorf("bucket of %s: %+v", name, info.Config)
		}
	}
	b = open(t, nc, Options{})
	if val, ok, err := b.Get(t.Context(), access.Bans, "mallory"); err != nil || !ok || string(val) != "ban" {
		t.Fatalf("after a second Open: %q %v %v", val, ok, err)
	}
	if _, err := Open(t.Context(), nc, Options{Prefix: "bad.prefix"}); err == nil {
		t.Error("Open took a prefix with a dot")
	}
	if _, err := Open(t.Context(), nc, Options{Prefix: "R3_", Replicas: 3, Timeout: 2 * time.Second}); err == nil || !strings.Contains(err.Error(), "R3_ACCOUNTS") {
		t.Errorf("Open with 3 replicas on one server = %v, want a refusal naming the bucket", err)
	}
	if err := b.Put(t.Context(), access.Bans, strings.Repeat("x", MaxKeyBytes+1), nil, 0); err == nil {
		t.Error("Put took a key over MaxKeyBytes")
	}
}

// TestReplicasEveryBucket: Options.Replicas reaches the stream of every
// bucket, the credential index and the link codes too.
func TestReplicasEveryBucket(t *testing.T) {
	o := Options{Replicas: 3}
	if err := o.setDefaults(); err != nil {
		t.Fatal(err)
	}
	b := &Backend{opts: o}
	names := map[access.Bucket]bool{}
	for _, name := range access.BucketNames {
		names[name] = true
		if cfg := b.streamConfig(o.Prefix + strings.ToUpper(string(name))); cfg.Replicas != 3 {
			t.Errorf("bucket %s: %d replicas, want 3", name, cfg.Replicas)
		}
	}
	for _, name := range []access.Bucket{access.Credentials, access.Links} {
		if !names[name] {
			t.Errorf("bucket %s is not opened", name)
		}
	}
}

// TestExpiryAcrossRestart: a ban with a TTL is gone after a restart of
// the embedded server that outlasts it; one without is kept.
func TestExpiryAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	l := embedded(t, dir)
	b := open(t, l.Conn(), Options{})
	ctx := t.Context()
	if err := b.Create(ctx, access.Bans, "timed", []byte("1s"), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, access.Bans, "forever", []byte("0"), 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, access.Mutes, "later", []byte("1h"), time.Hour); err != nil {
		t.Fatal(err)
	}
	l.Close()
	time.Sleep(1100 * time.Millisecond)
	b = open(t, embedded(t, dir).Conn(), Options{})
	got, err := b.List(ctx, access.Bans)
	if err != nil || len(got) != 1 || string(got["forever"]) != "0" {
		t.Fatalf("bans after the restart: %q, %v; want only forever", got, err)
	}
	if _, ok, err := b.Get(ctx, access.Bans, "timed"); ok || err != nil {
		t.Fatalf("the timed ban after the restart: %v, %v", ok, err)
	}
	if val, ok, err := b.Get(ctx, access.Mutes, "later"); !ok || err != nil || string(val) != "1h" {
		t.Fatalf("an unexpired mute after the restart: %q %v %v", val, ok, err)
	}
	// The server removes the expired ban by itself: it does not count
	// against MaxRecords.
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := b.buckets[access.Bans].stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bans bucket still holds %d messages", info.State.Msgs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
