package backendtest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"chatd/access"
)

// watchWait bounds the wait for a change to reach a watch.
const watchWait = 10 * time.Second

// change is one call of a watch's fn.
type change struct {
	key     string
	val     string
	deleted bool
}

func (c change) String() string {
	if c.deleted {
		return c.key + " deleted"
	}
	return c.key + "=" + c.val
}

// recorder keeps the changes a watch told.
type recorder struct {
	mu      sync.Mutex
	changes []change
	wake    chan struct{}
}

func (r *recorder) fn(key string, val []byte, deleted bool) {
	r.mu.Lock()
	r.changes = append(r.changes, change{key: key, val: string(val), deleted: deleted})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// last returns, for each key, the last change told of it, and all the
// changes in order.
func (r *recorder) last() (map[string]change, []change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]change{}
	for _, c := range r.changes {
		out[c.key] = c
	}
	return out, append([]change(nil), r.changes...)
}

// waitFor waits until the last change told of each key of want is want's.
func (r *recorder) waitFor(t *testing.T, want ...change) {
	t.Helper()
	deadline := time.After(watchWait)
	for {
		got, all := r.last()
		missing := ""
		for _, w := range want {
			if got[w.key] != w {
				missing = w.String()
				break
			}
		}
		if missing == "" {
			return
		}
		select {
		case <-r.wake:
		case <-deadline:
			t.Fatalf("the watch was not told %s within %v; it was told %v", missing, watchWait, all)
		}
	}
}

// watch starts a watch of bkt on b, stopped at the test's end.
func watch(t *testing.T, b access.Backend, bkt access.Bucket) *recorder {
	t.Helper()
	w, ok := b.(access.Watcher)
	if !ok {
		t.Skip("not a Watcher")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := &recorder{wake: make(chan struct{}, 1)}
	if err := w.Watch(ctx, bkt, r.fn); err != nil {
		t.Fatalf("Watch(%s): %v", bkt, err)
	}
	return r
}

// other returns the Backend another node would use on b's store.
func other(t *testing.T, f Factory, b access.Backend) access.Backend {
	if f.Share == nil {
		return b
	}
	return f.Share(t, b)
}

// testWatch: a watch is told of what another node creates, puts and
// deletes after Watch returned, in order, and not of what was there
// before; other buckets' changes are not told.
func testWatch(t *testing.T, f Factory, b access.Backend) {
	put(t, b, access.Bans, "before", []byte("old"), 0)
	r := watch(t, b, access.Bans)
	o := other(t, f, b)
	c := ctx(t)
	if err := o.Create(c, access.Bans, "mallory", []byte("banned"), 0); err != nil {
		t.Fatal(err)
	}
	put(t, o, access.Bans, "eve", []byte("one"), 0)
	put(t, o, access.Bans, "eve", []byte("two"), 0)
	put(t, o, access.Mutes, "elsewhere", []byte("x"), 0)
	r.waitFor(t, change{key: "mallory", val: "banned"}, change{key: "eve", val: "two"})
	if err := o.Delete(c, access.Bans, "mallory"); err != nil {
		t.Fatal(err)
	}
	put(t, o, access.Bans, "after", []byte("a delete"), 0)
	r.waitFor(t, change{key: "mallory", deleted: true}, change{key: "after", val: "a delete"})
	got, all := r.last()
	for _, key := range []string{"before", "elsewhere"} {
		if _, ok := got[key]; ok {
			t.Errorf("the watch was told of %q: %v", key, all)
		}
	}
	if i, j := index(all, change{key: "eve", val: "one"}), index(all, change{key: "eve", val: "two"}); i >= 0 && i > j {
		t.Errorf("changes told out of order: %v", all)
	}
}

// index is where c is in all, or -1.
func index(all []change, c change) int {
	for i, a := range all {
		if a == c {
			return i
		}
	}
	return -1
}

// testWatchMany: two watches of one bucket, on two nodes, are each told
// of many changes, and the last of each key is the store's.
func testWatchMany(t *testing.T, f Factory, b access.Backend) {
	o := other(t, f, b)
	r1, r2 := watch(t, b, access.Roles), watch(t, o, access.Roles)
	var want []change
	for i := range 20 {
		key := fmt.Sprint("op ", i%5)
		val := fmt.Sprint("v", i)
		put(t, []access.Backend{b, o}[i%2], access.Roles, key, []byte(val), 0)
		if i >= 15 {
			want = append(want, change{key: key, val: val})
		}
	}
	r1.waitFor(t, want...)
	r2.waitFor(t, want...)
}

// testWatchExpiry: a store that tells of expiries tells a watch that a
// record's TTL passed.
func testWatchExpiry(t *testing.T, f Factory, b access.Backend) {
	if !f.ExpiryTold {
		t.Skip("the store does not tell of expiries")
	}
	r := watch(t, b, access.Mutes)
	put(t, b, access.Mutes, "brief", []byte("muted"), TTL)
	r.waitFor(t, change{key: "brief", val: "muted"})
	advance(f, TTL)
	r.waitFor(t, change{key: "brief", deleted: true})
}

// testTake: of many Takes of one value at once, from two nodes, exactly
// one gets it; the key is then empty, and a watch is told it was
// deleted.
func testTake(t *testing.T, f Factory, b access.Backend) {
	o := other(t, f, b)
	if _, ok := b.(access.Taker); !ok {
		t.Skip("not a Taker")
	}
	r := watch(t, b, access.Links)
	put(t, b, access.Links, "CODE", []byte("alice"), time.Minute)
	const n = 8
	got := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			val, ok, err := []access.Backend{b, o}[i%2].(access.Taker).Take(ctx(t), access.Links, "CODE")
			if err != nil {
				t.Errorf("Take: %v", err)
			}
			if ok {
				got[i] = val
			}
		})
	}
	wg.Wait()
	winners := 0
	for _, val := range got {
		if val != nil {
			winners++
			if !bytes.Equal(val, []byte("alice")) {
				t.Errorf("Take = %q, want alice", val)
			}
		}
	}
	if winners != 1 {
		t.Fatalf("%d Takes got the value, want 1", winners)
	}
	want(t, b, access.Links, "CODE", nil)
	r.waitFor(t, change{key: "CODE", deleted: true})
	if _, ok, err := b.(access.Taker).Take(ctx(t), access.Links, "nothing"); ok || err != nil {
		t.Fatalf("Take of nothing = %v, %v", ok, err)
	}
}
