// Package backendtest is the table every access.Backend passes: the
// same cases run against access.MemoryBackend and against JetStream
// key-value buckets (internal/jetkv), so that a Directory finds the same
// store under either.
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"chatd/access"
)

// Factory makes the Backends of one store kind for Run.
type Factory struct {
	// Open returns a new, empty Backend, to be closed by the test's
	// cleanup.
	Open func(t *testing.T) access.Backend
	// Reopen closes b's store and opens it again, as a restart would. Nil
	// if the store cannot be reopened (in memory): that case is skipped.
	Reopen func(t *testing.T, b access.Backend) access.Backend
	// Advance lets d pass for the store's TTLs: a test clock moved, or
	// nil to sleep.
	Advance func(d time.Duration)
	// Share returns another Backend on b's store, as another node of the
	// room opens it. Nil: b itself is used.
	Share func(t *testing.T, b access.Backend) access.Backend
	// ExpiryTold says the store's watches tell of a TTL that passed.
	ExpiryTold bool
	// MaxRecords is the bound on a bucket's records the Backends were
	// opened with (0: access.MaxRecords): Run fills a bucket to it. At
	// least MinRecords.
	MaxRecords int
}

// TTL is the time to live Run gives records: a whole second count,
// since NATS counts TTLs in seconds.
const TTL = 2 * time.Second

// MinRecords is the least Factory.MaxRecords Run takes: the Keys case
// stores that many keys in one bucket.
const MinRecords = 32

// Run runs the table against f's Backends, each case on a new one.
func Run(t *testing.T, f Factory) {
	if f.MaxRecords != 0 && f.MaxRecords < MinRecords {
		t.Fatalf("backendtest: Factory.MaxRecords %d is below %d", f.MaxRecords, MinRecords)
	}
	cases := []struct {
		name string
		run  func(*testing.T, Factory, access.Backend)
	}{
		{"Buckets", testBuckets},
		{"Missing", testMissing},
		{"Create", testCreate},
		{"Put", testPut},
		{"Keys", testKeys},
		{"Values", testValues},
		{"TooLarge", testTooLarge},
		{"MaxRecords", testMaxRecords},
		{"TTL", testTTL},
		{"ConcurrentCreate", testConcurrentCreate},
		{"Reopen", testReopen},
		{"Watch", testWatch},
		{"WatchMany", testWatchMany},
		{"WatchExpiry", testWatchExpiry},
		{"Take", testTake},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, f, f.Open(t)) })
	}
}

// ctx bounds each call a case makes.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// want checks that key in bkt holds val (nil: nothing).
func want(t *testing.T, b access.Backend, bkt access.Bucket, key string, val []byte) {
	t.Helper()
	got, ok, err := b.Get(ctx(t), bkt, key)
	switch {
	case err != nil:
		t.Fatalf("Get(%s, %q): %v", bkt, key, err)
	case val == nil && ok:
		t.Fatalf("Get(%s, %q) = %q, want nothing", bkt, key, got)
	case val != nil && !ok:
		t.Fatalf("Get(%s, %q): nothing, want %q", bkt, key, val)
	case val != nil && !bytes.Equal(got, val):
		t.Fatalf("Get(%s, %q) = %q, want %q", bkt, key, got, val)
	}
}

// wantList checks that bkt holds exactly recs.
func wantList(t *testing.T, b access.Backend, bkt access.Bucket, recs map[string][]byte) {
	t.Helper()
	got, err := b.List(ctx(t), bkt)
	if err != nil {
		t.Fatalf("List(%s): %v", bkt, err)
	}
	if len(got) != len(recs) {
		t.Errorf("List(%s): %d records, want %d", bkt, len(got), len(recs))
	}
	for key, val := range recs {
		if g, ok := got[key]; !ok || !bytes.Equal(g, val) {
			t.Errorf("List(%s)[%q] = %q (%v), want %q", bkt, key, g, ok, val)
		}
	}
}

func put(t *testing.T, b access.Backend, bkt access.Bucket, key string, val []byte, ttl time.Duration) {
	t.Helper()
	if err := b.Put(ctx(t), bkt, key, val, ttl); err != nil {
		t.Fatalf("Put(%s, %q): %v", bkt, key, err)
	}
}

// testBuckets: every bucket keeps its own records; Delete removes one.
func testBuckets(t *testing.T, _ Factory, b access.Backend) {
	for _, bkt := range access.BucketNames {
		put(t, b, bkt, "alice", []byte("in "+string(bkt)), 0)
	}
	for _, bkt := range access.BucketNames {
		want(t, b, bkt, "alice", []byte("in "+string(bkt)))
		wantList(t, b, bkt, map[string][]byte{"alice": []byte("in " + string(bkt))})
	}
	if err := b.Delete(ctx(t), access.Bans, "alice"); err != nil {
		t.Fatal(err)
	}
	want(t, b, access.Bans, "alice", nil)
	wantList(t, b, access.Bans, nil)
	want(t, b, access.Mutes, "alice", []byte("in mutes"))
}

// testMissing: nothing at a key is no error, nor is deleting it; an
// empty bucket lists empty.
func testMissing(t *testing.T, _ Factory, b access.Backend) {
	want(t, b, access.Accounts, "nobody", nil)
	if err := b.Delete(ctx(t), access.Accounts, "nobody"); err != nil {
		t.Fatalf("Delete of nothing: %v", err)
	}
	wantList(t, b, access.Accounts, nil)
}

// testCreate: Create refuses a taken key (ErrExists) and keeps the value
// there; after a Delete the key is free again.
func testCreate(t *testing.T, _ Factory, b access.Backend) {
	c := ctx(t)
	if err := b.Create(c, access.Accounts, "alice", []byte("one"), 0); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := b.Create(c, access.Accounts, "alice", []byte("two"), 0); !errors.Is(err, access.ErrExists) {
		t.Fatalf("second Create = %v, want ErrExists", err)
	}
	want(t, b, access.Accounts, "alice", []byte("one"))
	if err := b.Create(c, access.Roles, "alice", []byte("other bucket"), 0); err != nil {
		t.Fatalf("Create in another bucket: %v", err)
	}
	if err := b.Delete(c, access.Accounts, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := b.Create(c, access.Accounts, "alice", []byte("three"), 0); err != nil {
		t.Fatalf("Create after Delete: %v", err)
	}
	want(t, b, access.Accounts, "alice", []byte("three"))
}

// testPut: Put replaces, and what Get returns is the caller's to keep.
func testPut(t *testing.T, _ Factory, b access.Backend) {
	put(t, b, access.Settings, "motd", []byte("hello"), 0)
	put(t, b, access.Settings, "motd", []byte("bye"), 0)
	got, _, err := b.Get(ctx(t), access.Settings, "motd")
	if err != nil {
		t.Fatal(err)
	}
	got[0] = 'X'
	want(t, b, access.Settings, "motd", []byte("bye"))
	wantList(t, b, access.Settings, map[string][]byte{"motd": []byte("bye")})
}

// hostileKeys are keys a store must take as they are: unicode, NATS
// subject syntax, wildcards, spaces, control bytes, invalid UTF-8, the
// empty key, and the longest.
var hostileKeys = []string{
	"", "alice", "Ålice", "日本語", "a/b", "a.b", ".", "..", ".a.", "*", ">", "a.*.>",
	"a b", " ", "\t\r\n", "a\x00b", "\xff\xfe", "$KV.CHATD_BANS.x", "k", "kAA", "-_=",
	"SHA256:" + strings.Repeat("A", 43), "sha256:" + strings.Repeat("AB:", 31) + "AB", "ip=2001:db8::/64",
	strings.Repeat("x", 1024), strings.Repeat("é", 512),
}

// testKeys: any string of at most 1 KiB is a key of its own.
func testKeys(t *testing.T, _ Factory, b access.Backend) {
	recs := make(map[string][]byte, len(hostileKeys))
	for i, key := range hostileKeys {
		recs[key] = fmt.Appendf(nil, "value %d", i)
		put(t, b, access.Bans, key, recs[key], 0)
	}
	for key, val := range recs {
		want(t, b, access.Bans, key, val)
	}
	wantList(t, b, access.Bans, recs)
	if err := b.Delete(ctx(t), access.Bans, "*"); err != nil {
		t.Fatal(err)
	}
	delete(recs, "*")
	wantList(t, b, access.Bans, recs)
}

// testValues: an empty value is a value; bytes of any kind come back,
// up to MaxRecordBytes.
func testValues(t *testing.T, _ Factory, b access.Backend) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	largest := bytes.Repeat([]byte{0xA5}, access.MaxRecordBytes)
	put(t, b, access.Settings, "empty", []byte{}, 0)
	put(t, b, access.Settings, "bytes", all, 0)
	if err := b.Create(ctx(t), access.Settings, "largest", largest, 0); err != nil {
		t.Fatalf("Create of %d bytes: %v", len(largest), err)
	}
	want(t, b, access.Settings, "empty", []byte{})
	want(t, b, access.Settings, "bytes", all)
	want(t, b, access.Settings, "largest", largest)
	wantList(t, b, access.Settings, map[string][]byte{"empty": {}, "bytes": all, "largest": largest})
}

// testTooLarge: a value one byte over MaxRecordBytes is refused by
// Create and Put, and leaves what was there.
func testTooLarge(t *testing.T, _ Factory, b access.Backend) {
	over := make([]byte, access.MaxRecordBytes+1)
	if err := b.Create(ctx(t), access.Settings, "motd", over, 0); err == nil {
		t.Fatal("Create took a value over MaxRecordBytes")
	}
	want(t, b, access.Settings, "motd", nil)
	put(t, b, access.Settings, "motd", []byte("hello"), 0)
	if err := b.Put(ctx(t), access.Settings, "motd", over, 0); err == nil {
		t.Fatal("Put took a value over MaxRecordBytes")
	}
	want(t, b, access.Settings, "motd", []byte("hello"))
}

// testMaxRecords: a full bucket refuses a new key (ErrFull) but replaces
// a value, and takes a new key again after a Delete; other buckets are
// not affected.
func testMaxRecords(t *testing.T, f Factory, b access.Backend) {
	limit := f.MaxRecords
	if limit <= 0 {
		limit = access.MaxRecords
	}
	for i := range limit {
		put(t, b, access.Allowed, fmt.Sprint("key ", i), []byte("v"), 0)
	}
	if err := b.Put(ctx(t), access.Allowed, "one more", []byte("v"), 0); !errors.Is(err, access.ErrFull) {
		t.Fatalf("Put beyond %d records = %v, want ErrFull", limit, err)
	}
	if err := b.Create(ctx(t), access.Allowed, "one more", []byte("v"), 0); !errors.Is(err, access.ErrFull) {
		t.Fatalf("Create beyond %d records = %v, want ErrFull", limit, err)
	}
	put(t, b, access.Allowed, "key 0", []byte("replaced"), 0)
	put(t, b, access.Bans, "elsewhere", []byte("v"), 0)
	got, err := b.List(ctx(t), access.Allowed)
	if err != nil || len(got) != limit {
		t.Fatalf("List of a full bucket: %d records, %v; want %d", len(got), err, limit)
	}
	if err := b.Delete(ctx(t), access.Allowed, "key 1"); err != nil {
		t.Fatal(err)
	}
	put(t, b, access.Allowed, "one more", []byte("v"), 0)
}

// testTTL: records with a TTL, made by Create or Put, are there until it
// passes and gone after, from Get and List; a record without one stays;
// a Put without TTL makes a record permanent; an expired key is free for
// Create.
func testTTL(t *testing.T, f Factory, b access.Backend) {
	c := ctx(t)
	if err := b.Create(c, access.Bans, "created", []byte("c"), TTL); err != nil {
		t.Fatal(err)
	}
	put(t, b, access.Bans, "put", []byte("p"), TTL)
	put(t, b, access.Bans, "kept", []byte("k"), 0)
	put(t, b, access.Bans, "made permanent", []byte("old"), TTL)
	put(t, b, access.Bans, "made permanent", []byte("new"), 0)
	put(t, b, access.Bans, "given a ttl", []byte("g"), 0)
	put(t, b, access.Bans, "given a ttl", []byte("g"), TTL)
	want(t, b, access.Bans, "created", []byte("c"))
	want(t, b, access.Bans, "put", []byte("p"))
	wantList(t, b, access.Bans, map[string][]byte{"created": []byte("c"), "put": []byte("p"), "kept": []byte("k"),
		"made permanent": []byte("new"), "given a ttl": []byte("g")})
	advance(f, TTL)
	for _, key := range []string{"created", "put", "given a ttl"} {
		want(t, b, access.Bans, key, nil)
	}
	want(t, b, access.Bans, "kept", []byte("k"))
	wantList(t, b, access.Bans, map[string][]byte{"kept": []byte("k"), "made permanent": []byte("new")})
	if err := b.Create(c, access.Bans, "created", []byte("again"), 0); err != nil {
		t.Fatalf("Create over an expired record: %v", err)
	}
	want(t, b, access.Bans, "created", []byte("again"))
}

func advance(f Factory, d time.Duration) {
	if f.Advance != nil {
		f.Advance(d)
		return
	}
	time.Sleep(d)
}

// testConcurrentCreate: of many Creates of one key at once, exactly one
// wins, the others get ErrExists, and the winner's value is kept.
func testConcurrentCreate(t *testing.T, _ Factory, b access.Backend) {
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = b.Create(ctx(t), access.Accounts, "alice", fmt.Appendf(nil, "creator %d", i), 0)
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("Creates %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, access.ErrExists):
			t.Fatalf("Create %d = %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no Create won")
	}
	want(t, b, access.Accounts, "alice", fmt.Appendf(nil, "creator %d", winner))
}

// testReopen: records are kept across a reopen of the store, TTLs too.
func testReopen(t *testing.T, f Factory, b access.Backend) {
	if f.Reopen == nil {
		t.Skip("the store cannot be reopened")
	}
	put(t, b, access.Accounts, "Ålice", []byte("account"), 0)
	put(t, b, access.Bans, "mallory", []byte("ban"), time.Hour)
	b = f.Reopen(t, b)
	want(t, b, access.Accounts, "Ålice", []byte("account"))
	want(t, b, access.Bans, "mallory", []byte("ban"))
	wantList(t, b, access.Accounts, map[string][]byte{"Ålice": []byte("account")})
}
