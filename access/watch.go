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
	w, ok := d.backend.(Watcher)
	if !ok {
		return nil
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.stopWatch = cancel
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

// applyChange applies one change another node (or this one) made to b:
// the record at key is forgotten, then, unless deleted, the new one is
// checked and loaded as at New. A bad record is skipped, counted and
// logged. A new ban removes the members it holds.
func (d *Directory) applyChange(b Bucket, key string, val []byte, deleted bool) {
	load := d.loaderOf(b)
	if load == nil || len(key) > maxWatchedKey {
		return
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.forget(b, key)
	var err error
	if !deleted {
		err = load(key, val)
	}
	var fresh ban
	var banned bool
	if b == Bans && !deleted && err == nil && !d.ownBan(key, val) {
		fresh, banned = d.v.bans[key]
		banned = banned && !expired(fresh.rec.Until, d.now())
	}
	d.mu.Unlock()
	if err != nil {
		d.metrics.badRecords.Inc()
		d.log.Warn("access: skipping a bad record from the watch", "bucket", string(b), "key", cut(key), "err", err)
		return
	}
	if b == Accounts && deleted {
		d.links.forget(key)
	}
	if banned {
		d.enforce(fresh)
	}
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

// maxOwnBans bounds the bans kept in ownBans; past it, they are all
// forgotten (their watch then enforces them again: it finds no one new).
const maxOwnBans = 256

// markOwnBan notes that this Directory is storing val at key in Bans.
func (d *Directory) markOwnBan(key string, val []byte) {
	if _, ok := d.backend.(Watcher); !ok {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ownBans == nil || len(d.ownBans) >= maxOwnBans {
		d.ownBans = map[string]string{}
	}
	d.ownBans[key] = string(val)
}

// ownBan reports whether val at key is a ban this Directory stored, and
// forgets it. The caller holds d.mu.
func (d *Directory) ownBan(key string, val []byte) bool {
	own, ok := d.ownBans[key]
	if !ok || own != string(val) {
		return false
	}
	delete(d.ownBans, key)
	return true
}
