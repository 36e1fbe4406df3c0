package jetkv

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"chatd/access"
)

// TestHostileRecords: records another writer put in a bucket (with nats,
// not jetkv) never panic. Values at keys jetkv can read come back as the
// bytes stored, for the Directory to check; keys it did not write are
// skipped by List; a KV delete or purge marker is no value, and Create
// takes its key.
func TestHostileRecords(t *testing.T) {
	nc := embedded(t, t.TempDir()).Conn()
	b := open(t, nc, Options{Prefix: "H_"})
	ctx := t.Context()
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, "H_ACCOUNTS")
	if err != nil {
		t.Fatal(err)
	}
	garbage := append([]byte("{\"nick\":\x00\xff"), bytes.Repeat([]byte{0xfe}, access.MaxRecordBytes-8)...)
	enc := func(key string) string { k, _ := encodeKey(key); return k }
	for key, val := range map[string][]byte{
		enc("alice"):   garbage,
		enc("bob"):     nil,
		enc("deleted"): []byte("x"),
		enc("purged"):  []byte("x"),
		"notours":      []byte("foreign key"),
		"kA":           []byte("undecodable"),
		"k" + "AAAA=":  []byte("padded"),
		"kYWxpY2U.x":   []byte("two tokens"),
		"k":            []byte("the empty key"),
	} {
		if _, err := kv.Put(ctx, key, val); err != nil {
			t.Fatalf("Put %q: %v", key, err)
		}
	}
	if err := kv.Delete(ctx, enc("deleted")); err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(ctx, enc("purged")); err != nil {
		t.Fatal(err)
	}
	// A message on the bucket's bare subject prefix, with odd headers.
	msg := &nats.Msg{Subject: "$KV.H_ACCOUNTS.k", Data: []byte("odd headers"), Header: nats.Header{"Nats-TTL": {"never"}, "X": {"\x00"}}}
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}

	if val, ok, err := b.Get(ctx, access.Accounts, "alice"); err != nil || !ok || !bytes.Equal(val, garbage) {
		t.Fatalf("Get(alice) = %d bytes, %v, %v; want the %d stored", len(val), ok, err, len(garbage))
	}
	for _, key := range []string{"deleted", "purged"} {
		if _, ok, err := b.Get(ctx, access.Accounts, key); ok || err != nil {
			t.Fatalf("Get(%s) = %v, %v; want nothing", key, ok, err)
		}
		if err := b.Create(ctx, access.Accounts, key, []byte("mine"), 0); err != nil {
			t.Fatalf("Create over a %s marker: %v", key, err)
		}
	}
	got, err := b.List(ctx, access.Accounts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"alice": string(garbage), "bob": "", "deleted": "mine", "purged": "mine", "": "odd headers"}
	if len(got) != len(want) {
		t.Errorf("List: %d records, want %d: %q", len(got), len(want), keysOf(got))
	}
	for key, val := range want {
		if g, ok := got[key]; !ok || string(g) != val {
			t.Errorf("List[%q] = %.20q (%v), want %.20q", key, g, ok, val)
		}
	}
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestHostileWatch: a watch tells the values at keys jetkv can read, as
// stored, and a KV delete or purge of another writer as deleted; keys it
// did not write are skipped.
func TestHostileWatch(t *testing.T) {
	nc := embedded(t, t.TempDir()).Conn()
	b := open(t, nc, Options{Prefix: "HW_"})
	ctx := t.Context()
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, "HW_BANS")
	if err != nil {
		t.Fatal(err)
	}
	told := make(chan string, 16)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	if err := b.Watch(wctx, access.Bans, func(key string, val []byte, deleted bool) {
		if deleted {
			told <- key + " deleted"
			return
		}
		told <- key + "=" + string(val)
	}); err != nil {
		t.Fatal(err)
	}
	enc := func(key string) string { k, _ := encodeKey(key); return k }
	for _, op := range []func() error{
		func() error { _, err := kv.Put(ctx, "notours", []byte("foreign")); return err },
		func() error { _, err := kv.Put(ctx, "kA", []byte("undecodable")); return err },
		func() error { _, err := kv.Put(ctx, enc("eve"), []byte("\x00\xff")); return err },
		func() error { return kv.Delete(ctx, enc("eve")) },
		func() error { _, err := kv.Put(ctx, enc("mallory"), []byte("x")); return err },
		func() error { return kv.Purge(ctx, enc("mallory")) },
	} {
		if err := op(); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"eve=\x00\xff", "eve deleted", "mallory=x", "mallory deleted"} {
		select {
		case got := <-told:
			if got != want {
				t.Fatalf("the watch told %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the watch never told %q", want)
		}
	}
}
