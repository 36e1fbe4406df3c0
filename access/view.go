package access

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"
)

// account is an account as the view keeps it.
type account struct {
	rec   accountRecord
	creds []Credential
}

// mute is a mute as the view keeps it.
type mute struct {
	rec   muteRecord
	creds []Credential
}

// view is the Directory's records in memory. The Directory's mu guards
// it.
type view struct {
	owners   map[Credential]string // the admins file: credential to name
	accounts map[string]*account   // by nickname key
	byCred   map[Credential]string // credential to its account's nickname key
	roles    map[string]roleRecord // by nickname key
	allowed  map[Credential]allowRecord
	// disallowed holds the credentials /disallow took off the
	// allowlist (tombstones in Allowed), which seeding skips.
	disallowed map[Credential]bool
	bans       map[string]ban // by banTarget.key
	mutes      map[string]*mute
	// mutedBy indexes mutes by their credentials: credential to the keys
	// of the mutes that name it.
	mutedBy map[Credential]map[string]bool
	motd    motdRecord
}

// ban is a ban as the view keeps it.
type ban struct {
	target banTarget
	rec    banRecord
}

// newView returns an empty view.
func newView() view {
	return view{
		owners: map[Credential]string{}, accounts: map[string]*account{},
		byCred: map[Credential]string{}, roles: map[string]roleRecord{},
		allowed: map[Credential]allowRecord{}, disallowed: map[Credential]bool{}, bans: map[string]ban{}, mutes: map[string]*mute{},
		mutedBy: map[Credential]map[string]bool{},
	}
}

// load reads every bucket into the view; bad records are skipped.
func (d *Directory) load(ctx context.Context) error {
	loaders := []struct {
		b    Bucket
		load func(key string, val []byte) error
	}{
		{Accounts, d.loadAccount}, {Roles, d.loadRole}, {Allowed, d.loadAllowed},
		{Bans, d.loadBan}, {Mutes, d.loadMute}, {Settings, d.loadSetting},
	}
	for _, l := range loaders {
		recs, err := d.backend.List(ctx, l.b)
		if err != nil {
			return fmt.Errorf("access: loading %s: %w", l.b, err)
		}
		keys := loadOrder(l.b, recs)
		for _, key := range keys[:min(len(keys), MaxRecords)] {
			if err := l.load(key, recs[key]); err != nil {
				d.metrics.badRecords.Inc()
				d.log.Warn("access: skipping a bad stored record", "bucket", string(l.b), "key", cut(key), "err", err)
			}
		}
	}
	return nil
}

// loadOrder is the order in which the records of b are loaded, so that a
// load is the same every time: accounts oldest first (a credential two
// accounts claim stays with the older), else by key.
func loadOrder(b Bucket, recs map[string][]byte) []string {
	keys := slices.Sorted(maps.Keys(recs))
	if b != Accounts {
		return keys
	}
	since := make(map[string]time.Time, len(keys))
	for _, key := range keys {
		var rec struct {
			Since time.Time `json:"since"`
		}
		if len(recs[key]) <= MaxRecordBytes && json.Unmarshal(recs[key], &rec) == nil {
			since[key] = rec.Since
		}
	}
	slices.SortStableFunc(keys, func(x, y string) int { return compareSince(since[x], since[y]) })
	return keys
}

// compareSince orders registration times, oldest first; an unknown (zero)
// time comes last.
func compareSince(x, y time.Time) int {
	switch {
	case x.IsZero() && y.IsZero():
		return 0
	case x.IsZero():
		return 1
	case y.IsZero():
		return -1
	}
	return x.Compare(y)
}

// loadAccount loads an account record, refusing one that claims a
// credential an account loaded before holds.
func (d *Directory) loadAccount(key string, val []byte) error {
	var rec accountRecord
	if err := decode(val, &rec, func() int { return rec.V }); err != nil {
		return err
	}
	if err := checkNick(rec.Nick, key); err != nil {
		return err
	}
	creds, err := parseCreds(rec.Creds, MaxCredentials)
	if err != nil {
		return err
	}
	if len(creds) == 0 {
		return fmt.Errorf("%w: an account without credentials", errBadRecord)
	}
	for _, c := range creds {
		if other, ok := d.v.byCred[c]; ok {
			kept := d.v.accounts[other].rec
			return fmt.Errorf("%w: %s belongs to %q (registered %s, kept: the older) and to %q (registered %s, skipped)",
				errBadRecord, c, kept.Nick, formatTime(kept.Since), rec.Nick, formatTime(rec.Since))
		}
	}
	d.v.accounts[key] = &account{rec: rec, creds: creds}
	for _, c := range creds {
		d.v.byCred[c] = key
	}
	return nil
}

// loadRole loads an operator role record into the view, checking it.
func (d *Directory) loadRole(key string, val []byte) error {
	var rec roleRecord
	if err := decode(val, &rec, func() int { return rec.V }); err != nil {
		return err
	}
	if err := checkNick(rec.Nick, key); err != nil {
		return err
	}
	if err := checkText(rec.By, maxByBytes); err != nil {
		return err
	}
	d.v.roles[key] = rec
	return nil
}

// loadAllowed loads an allowlist record into the view, checking it.
func (d *Directory) loadAllowed(key string, val []byte) error {
	var rec allowRecord
	if err := decode(val, &rec, func() int { return rec.V }); err != nil {
		return err
	}
	c, err := parseStoredCred(rec.Cred)
	if err != nil {
		return err
	}
	if key != rec.Cred {
		return fmt.Errorf("%w: stored under another key", errBadRecord)
	}
	if err := checkText(rec.By, maxByBytes); err != nil {
		return err
	}
	if rec.Off {
		d.v.disallowed[c] = true
		return nil
	}
	d.v.allowed[c] = rec
	return nil
}

// loadBan loads a ban record, keyed by what it bans into the view, checking it.
func (d *Directory) loadBan(key string, val []byte) error {
	var rec banRecord
	if err := decode(val, &rec, func() int { return rec.V }); err != nil {
		return err
	}
	t, err := parseBanKey(key)
	if err != nil {
		return err
	}
	if rec.Target != t.String() {
		return fmt.Errorf("%w: a ban stored under another key", errBadRecord)
	}
	if err := checkBanFields(rec); err != nil {
		return err
	}
	if t.Prefix.IsValid() && tooBroad(t.Prefix) {
		return fmt.Errorf("%w: a ban of %s is too broad", errBadRecord, t.Prefix)
	}
	d.v.bans[key] = ban{target: t, rec: rec}
	return nil
}

// checkBanFields checks a stored ban's texts.
func checkBanFields(rec banRecord) error {
	if rec.Nick != "" {
		if err := checkNick(rec.Nick, keyOf(rec.Nick)); err != nil {
			return err
		}
	}
	if err := checkText(rec.By, maxByBytes); err != nil {
		return err
	}
	return checkText(rec.Reason, MaxReasonBytes)
}

// loadMute loads a mute record into the view, checking it.
func (d *Directory) loadMute(key string, val []byte) error {
	var rec muteRecord
	if err := decode(val, &rec, func() int { return rec.V }); err != nil {
		return err
	}
	if err := checkNick(rec.Nick, key); err != nil {
		return err
	}
	creds, err := parseCreds(rec.Creds, MaxCredentials+2)
	if err != nil {
		return err
	}
	if err := checkText(rec.By, maxByBytes); err != nil {
		return err
	}
	if err := checkText(rec.Reason, MaxReasonBytes); err != nil {
		return err
	}
	d.v.setMute(key, &mute{rec: rec, creds: creds})
	return nil
}

// loadSetting loads a setting record (the message of the day) into the view, checking it.
func (d *Directory) loadSetting(key string, val []byte) error {
	if key != motdKey {
		return fmt.Errorf("%w: unknown setting %q", errBadRecord, cut(key))
	}
	var rec motdRecord
	if err := decode(val, &rec, func() int { return rec.V }); err != nil {
		return err
	}
	if err := checkText(rec.Text, MaxMOTDBytes); err != nil {
		return err
	}
	if err := checkText(rec.By, maxByBytes); err != nil {
		return err
	}
	d.v.motd = rec
	return nil
}

// expired reports whether a record lasting until until is over at now.
func expired(until, now time.Time) bool {
	return !until.IsZero() && !now.Before(until)
}

// tooBroad reports whether a ban of p would cover too many: broader than
// an IPv4 /16 or an IPv6 /32.
func tooBroad(p netip.Prefix) bool {
	if p.Addr().Is4() {
		return p.Bits() < 16
	}
	return p.Bits() < 32
}

// prune forgets the bans and mutes that ended by now, as the Backend
// does by itself. The caller holds d.mu.
func (v *view) prune(now time.Time) {
	maps.DeleteFunc(v.bans, func(_ string, b ban) bool { return expired(b.rec.Until, now) })
	for key, m := range v.mutes {
		if expired(m.rec.Until, now) {
			v.dropMute(key)
		}
	}
}

// setMute puts m at key, replacing the mute there. The caller holds d.mu.
func (v *view) setMute(key string, m *mute) {
	v.dropMute(key)
	v.mutes[key] = m
	for _, c := range m.creds {
		if v.mutedBy[c] == nil {
			v.mutedBy[c] = map[string]bool{}
		}
		v.mutedBy[c][key] = true
	}
}

// dropMute forgets the mute at key. The caller holds d.mu.
func (v *view) dropMute(key string) {
	m, ok := v.mutes[key]
	if !ok {
		return
	}
	for _, c := range m.creds {
		delete(v.mutedBy[c], key)
		if len(v.mutedBy[c]) == 0 {
			delete(v.mutedBy, c)
		}
	}
	delete(v.mutes, key)
}

// mutedUntil returns the mute in force at now of the nickname key or of
// one of creds. The caller holds d.mu.
func (v *view) mutedUntil(key string, creds []Credential, now time.Time) (time.Time, bool) {
	if m, ok := v.mutes[key]; ok && !expired(m.rec.Until, now) {
		return m.rec.Until, true
	}
	for _, c := range creds {
		for k := range v.mutedBy[c] {
			if m := v.mutes[k]; !expired(m.rec.Until, now) {
				return m.rec.Until, true
			}
		}
	}
	return time.Time{}, false
}
