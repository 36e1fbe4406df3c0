package access

import (
	"context"
	"fmt"

	"chatd/room"
)

// watchedBuckets are the buckets whose changes, made by any node, a
// Directory on a Watcher applies to its view.
var watchedBuckets = []Bucket{Accounts, Roles, Allowed, Bans, Mutes, Settings}

// watch starts watching every bucket of the view, if the Backend is a
// Watcher: each change, once the view is loaded (loaded closed), is
// applied as a command on this node would have applied it. The watches
// end with Close.
func (d *Directory) watch(ctx context.Context, loaded <-chan struct{}) error {
	w := d.watcher
	if w == nil {
		return nil
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.stopWatch = cancel
	d.sweeps.Go(func() { d.sweepOwn(wctx) })
	for _, b := range watchedBuckets {
		err := w.Watch(wctx, b, func(key string, val []byte, deleted bool) {
			select {
			case <-loaded:
			case <-wctx.Done():
				return
			}
			d.applyChange(b, key, val, deleted)
		})
		if err != nil {
			cancel()
			return fmt.Errorf("access: watching %s: %w", b, err)
		}
	}
	return nil
}

// applyChange applies one change another node (or this one) made to b,
// in the store's order (see orderOwn): the record at key is forgotten,
// then, unless deleted, the new one is checked and loaded as at New. A
// bad record is skipped, counted and logged. A ban from another node
// removes the members it holds.
func (d *Directory) applyChange(b Bucket, key string, val []byte, deleted bool) {
	if d.loaderOf(b) == nil || len(key) > maxWatchedKey {
		return
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	apply, own := d.orderOwn(b, key, val, deleted)
	if !apply {
		d.mu.Unlock()
		return
	}
	fresh, banned := d.applyLocked(b, key, val, deleted)
	d.mu.Unlock()
	if banned && !own {
		d.enforce(fresh)
	}
}

// applyLocked applies a change to the view and returns the ban it put
// in force, if any. The caller holds d.mu.
func (d *Directory) applyLocked(b Bucket, key string, val []byte, deleted bool) (ban, bool) {
	d.forget(b, key)
	if deleted {
		if b == Accounts {
			d.links.forget(key)
		}
		return ban{}, false
	}
	if err := d.loaderOf(b)(key, val); err != nil {
		d.metrics.badRecords.Inc()
		d.log.Warn("access: skipping a bad record from the watch", "bucket", string(b), "key", cut(key), "err", err)
		return ban{}, false
	}
	if b != Bans {
		return ban{}, false
	}
	fresh, ok := d.v.bans[key]
	return fresh, ok && !expired(fresh.rec.Until, d.now())
}

// maxWatchedKey bounds a key from the watch (the Backend's bound).
const maxWatchedKey = 1 << 10

// loaderOf returns the loader of b's records, nil for a bucket the view
// does not hold. The loaders take d.mu held.
func (d *Directory) loaderOf(b Bucket) func(key string, val []byte) error {
	switch b {
	case Accounts:
		return d.loadAccount
	case Roles:
		return d.loadRole
	case Allowed:
		return d.loadAllowed
	case Bans:
		return d.loadBan
	case Mutes:
		return d.loadMute
	case Settings:
		return d.loadSetting
	}
	return nil
}

// forget takes the record at key in b out of the view. The caller holds
// d.mu.
func (d *Directory) forget(b Bucket, key string) {
	switch b {
	case Accounts:
		d.dropAccount(key)
	case Roles:
		delete(d.v.roles, key)
	case Allowed:
		if c, err := parseStoredCred(key); err == nil {
			delete(d.v.allowed, c)
			delete(d.v.disallowed, c)
		}
	case Bans:
		delete(d.v.bans, key)
	case Mutes:
		d.v.dropMute(key)
	case Settings:
		if key == motdKey {
			d.v.motd = motdRecord{}
		}
	}
}

// enforce removes the members of the attached room that a ban from the
// watch holds, as its author's /ban removes those of its own node: with
// the same reason, sparing those of the author's rank or above.
func (d *Directory) enforce(b ban) {
	author := &actor{name: b.rec.By, rank: b.rec.authorRank()}
	removed, _ := d.removeBanned(author, []ban{b}, room.Reason{Kind: room.ReasonBanned, Detail: detail(b.rec.By, b.rec.Until, b.rec.Reason)})
	if len(removed) > 0 {
		d.log.Info("access: removed members a ban from another node holds", "target", b.rec.Target, "removed", len(removed))
	}
}
