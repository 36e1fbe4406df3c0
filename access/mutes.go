package access

import (
	"context"
	"fmt"
	"time"

	"chatd/room"
)

// mute lets NICK read but not send, by its nickname and its credentials,
// so that reconnecting does not lift it.
func (d *Directory) mute(ctx context.Context, a *actor, args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, room.ErrUsage
	}
	t, err := d.oneNick(args[:1])
	if err != nil {
		return nil, err
	}
	dur, reason, err := durationAndReason(args[1:])
	if err != nil {
		return nil, err
	}
	if err := canAct(a, t.rank, t.nick); err != nil {
		return nil, err
	}
	now := d.now().UTC()
	rec := muteRecord{V: recordVersion, Nick: t.nick, Creds: credStrings(t.creds), By: a.name, ByRank: a.rank.String(), Reason: reason, Since: now}
	if dur > 0 {
		rec.Until = now.Add(dur)
	}
	key := keyOf(t.nick)
	if err := d.lockW(ctx); err != nil {
		return nil, err
	}
	defer d.unlockW()
	if err := d.outranksMute(a, key, t.nick); err != nil {
		return nil, err
	}
	if err := d.store(ctx, "mute", func(ctx context.Context) error {
		return d.backend.Put(ctx, Mutes, key, encode(rec), dur)
	}); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.v.prune(d.now())
	d.v.setMute(key, &mute{rec: rec, creds: t.creds})
	d.mu.Unlock()
	d.logAction("mute", a.name, t.nick, rec.Until, reason)
	text := fmt.Sprintf("%s muted %s", a.name, t.nick)
	if dur > 0 {
		text += " for " + fmtDuration(dur)
	}
	if reason != "" {
		text += ": " + reason
	}
	out := d.told(a, text)
	if len(t.creds) == 0 {
		out = append(out, fmt.Sprintf("%s connected without a key or certificate, so the mute holds the nickname only: they can come back unmuted under another", t.nick))
	}
	return out, nil
}

// outranksMute refuses to replace a mute in force at key that a higher
// rank than a's set: a would then be its author, and could lift it. The
// caller holds the write lock.
func (d *Directory) outranksMute(a *actor, key, nick string) error {
	d.mu.RLock()
	old := d.v.mutes[key]
	d.mu.RUnlock()
	if old == nil || expired(old.rec.Until, d.now()) {
		return nil
	}
	return canLift(a, old.rec.authorRank(), "the mute of "+nick)
}

// unmute lifts the mutes of NICK and of its credentials.
func (d *Directory) unmute(ctx context.Context, a *actor, args []string) ([]string, error) {
	if len(args) != 1 {
		return nil, room.ErrUsage
	}
	t, _, err := d.findTarget(args[0])
	if err != nil {
		return nil, err
	}
	now := d.now()
	d.mu.RLock()
	var keys []string
	author := rankMember
	for key, m := range d.v.mutes {
		if !expired(m.rec.Until, now) && (key == keyOf(t.nick) || shares(m.creds, t.creds)) {
			keys = append(keys, key)
			author = max(author, m.rec.authorRank())
		}
	}
	d.mu.RUnlock()
	if len(keys) == 0 {
		return nil, fmt.Errorf("%q is not muted", t.nick)
	}
	if err := canAct(a, t.rank, t.nick); err != nil {
		return nil, err
	}
	if err := canLift(a, author, "the mute of "+t.nick); err != nil {
		return nil, err
	}
	if err := d.lockW(ctx); err != nil {
		return nil, err
	}
	defer d.unlockW()
	for _, key := range keys {
		if err := d.store(ctx, "unmute", func(ctx context.Context) error {
			return d.backend.Delete(ctx, Mutes, key)
		}); err != nil {
			return nil, err
		}
		d.mu.Lock()
		d.v.dropMute(key)
		d.mu.Unlock()
	}
	d.logAction("unmute", a.name, t.nick, time.Time{}, "")
	return d.told(a, fmt.Sprintf("%s unmuted %s", a.name, t.nick)), nil
}
