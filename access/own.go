package access

import (
	"context"
	"time"
)

// A Directory on a shared Backend applies its own changes to its view at
// once, and everyone's (its own too) when its watch tells them, in the
// store's order. So that a change of another node that the store made
// before one of this node's, but that the watch tells after this node
// applied its own, does not undo it for a while, the Directory notes its
// writes (ownWrites) until the watch tells them back: a change of
// another node to a key with a write of this node not yet told back was
// made before it, and is held back, and dropped when the write is told.
// A write the watch never tells (it failed after all, or the store's
// re-read after an outage told only a later value) is given up after
// ownWait; the change last held back behind it is then applied.

// ownWait is how long a write of this Directory waits to be told back by
// the watch.
const ownWait = 10 * time.Second

// maxOwn bounds the keys with writes waiting; past it, writes are not
// noted (their watch then applies them as another node's).
const maxOwn = 1024

// ownKey is a record: its bucket and key.
type ownKey struct {
	b   Bucket
	key string
}

// ownWrite is one write of this Directory: the value stored, or a
// delete.
type ownWrite struct {
	val     string
	deleted bool
}

// ownState is a record's writes waiting to be told back, and the last
// change of another node held back behind them.
type ownState struct {
	writes []ownWrite
	until  time.Time
	held   *ownWrite
}

// ownWrites is the Backend of a Directory on a Watcher: it notes the
// Directory's writes (see orderOwn).
type ownWrites struct {
	Backend
	d *Directory
}

// Create notes the value, then creates it.
func (o ownWrites) Create(ctx context.Context, b Bucket, key string, val []byte, ttl time.Duration) error {
	return o.d.noteOwn(b, key, ownWrite{val: string(val)}, func() error { return o.Backend.Create(ctx, b, key, val, ttl) })
}

// Put notes the value, then puts it.
func (o ownWrites) Put(ctx context.Context, b Bucket, key string, val []byte, ttl time.Duration) error {
	return o.d.noteOwn(b, key, ownWrite{val: string(val)}, func() error { return o.Backend.Put(ctx, b, key, val, ttl) })
}

// Delete notes the delete, then deletes.
func (o ownWrites) Delete(ctx context.Context, b Bucket, key string) error {
	return o.d.noteOwn(b, key, ownWrite{deleted: true}, func() error { return o.Backend.Delete(ctx, b, key) })
}

// noteOwn notes w at key in b, then writes it; a write that fails is
// forgotten.
func (d *Directory) noteOwn(b Bucket, key string, w ownWrite, write func() error) error {
	if d.loaderOf(b) == nil {
		return write()
	}
	k := ownKey{b, key}
	d.mu.Lock()
	st := d.own[k]
	if st == nil && len(d.own) < maxOwn {
		if d.own == nil {
			d.own = map[ownKey]*ownState{}
		}
		st = &ownState{}
		d.own[k] = st
	}
	if st != nil {
		st.writes = append(st.writes, w)
		st.until = time.Now().Add(ownWait)
	}
	d.mu.Unlock()
	err := write()
	if err != nil && st != nil {
		d.dropOwn(k, st, w)
	}
	return err
}

// dropOwn forgets w, a write that failed; if no other write of the
// record waits, the change held back behind it is applied now.
func (d *Directory) dropOwn(k ownKey, st *ownState, w ownWrite) {
	d.mu.Lock()
	if i := st.find(w); i >= 0 {
		st.writes = append(st.writes[:i], st.writes[i+1:]...)
	}
	var fresh ban
	var banned bool
	if len(st.writes) == 0 && d.own[k] == st {
		delete(d.own, k)
		if st.held != nil && !d.closed {
			fresh, banned = d.applyLocked(k.b, k.key, []byte(st.held.val), st.held.deleted)
		}
	}
	d.mu.Unlock()
	if banned {
		d.enforce(fresh)
	}
}

// find returns the index of the latest write equal to w, or -1.
func (st *ownState) find(w ownWrite) int {
	for i := len(st.writes) - 1; i >= 0; i-- {
		if st.writes[i] == w {
			return i
		}
	}
	return -1
}

// orderOwn decides a change the watch told: apply says whether to apply
// it to the view, own whether it is one of this Directory's writes. The
// caller holds d.mu.
func (d *Directory) orderOwn(b Bucket, key string, val []byte, deleted bool) (apply, own bool) {
	k := ownKey{b, key}
	st, ok := d.own[k]
	if !ok {
		return true, false
	}
	w := ownWrite{deleted: deleted}
	if !deleted {
		w.val = string(val)
	}
	if i := st.find(w); i >= 0 {
		st.writes = st.writes[i+1:]
		st.held = nil
		if len(st.writes) == 0 {
			delete(d.own, k)
		}
		return len(st.writes) == 0, true // a later write of ours is in the view
	}
	if len(st.writes) == 0 {
		delete(d.own, k)
		return true, false
	}
	st.held = &ownWrite{val: w.val, deleted: deleted}
	return false, false
}

// sweepOwn gives up, every ownWait/2 until ctx is done, the writes
// waited for longer than ownWait, applying the changes held back behind
// them.
func (d *Directory) sweepOwn(ctx context.Context) {
	tick := time.NewTicker(ownWait / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		d.giveUpOwn(time.Now())
	}
}

// giveUpOwn gives up the writes waited for since before now.
func (d *Directory) giveUpOwn(now time.Time) {
	var bans []ban
	d.mu.Lock()
	for k, st := range d.own {
		if now.Before(st.until) {
			continue
		}
		delete(d.own, k)
		if st.held == nil || d.closed {
			continue
		}
		if b, ok := d.applyLocked(k.b, k.key, []byte(st.held.val), st.held.deleted); ok {
			bans = append(bans, b)
		}
	}
	d.mu.Unlock()
	for _, b := range bans {
		d.enforce(b)
	}
}
