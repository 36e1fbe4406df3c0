package access

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"chatd/room"
)

// banSet is what one /ban or /unban names: credentials and address
// prefixes, the nickname they came from, and the rank of their holder.
type banSet struct {
	label   string // how announcements name it
	nick    string // "" unless named by nickname
	targets []banTarget
	rank    rank
}

// resolveBan reads the target of /ban or /unban: NICK, fp= or ip=.
func (d *Directory) resolveBan(word string) (banSet, error) {
	if c, ok, err := parseFP(word); ok || err != nil {
		if err != nil {
			return banSet{}, err
		}
		d.mu.RLock()
		r := d.v.rankOf([]Credential{c})
		d.mu.RUnlock()
		return banSet{label: c.String(), targets: []banTarget{{Cred: c}}, rank: r}, nil
	}
	if p, ok, err := parseIP(word); ok || err != nil {
		if err != nil {
			return banSet{}, err
		}
		return banSet{label: p.String(), targets: []banTarget{{Prefix: p}}}, nil
	}
	t, found, err := d.findTarget(word)
	if err != nil {
		return banSet{}, err
	}
	if !found {
		return banSet{}, errNobody(word)
	}
	s := banSet{label: t.nick, nick: t.nick, rank: t.rank}
	for _, c := range t.creds {
		s.targets = append(s.targets, banTarget{Cred: c})
	}
	if addr, err := netip.ParseAddr(t.address()); err == nil {
		s.targets = append(s.targets, banTarget{Prefix: addrPrefix(addr)})
	}
	return s, nil
}

// ban bans credentials and addresses, and removes whoever present they
// match.
func (d *Directory) ban(ctx context.Context, a *actor, args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, room.ErrUsage
	}
	set, err := d.resolveBan(args[0])
	if err != nil {
		return nil, err
	}
	dur, reason, err := durationAndReason(args[1:])
	if err != nil {
		return nil, err
	}
	if err := canAct(a, set.rank, set.label); err != nil {
		return nil, err
	}
	if len(set.targets) == 0 {
		return nil, fmt.Errorf("%q has neither a credential nor an address to ban", set.label)
	}
	now := d.now().UTC()
	var until time.Time
	if dur > 0 {
		until = now.Add(dur)
	}
	bans := make([]ban, 0, len(set.targets))
	for _, t := range set.targets {
		bans = append(bans, ban{target: t, rec: banRecord{V: recordVersion, Target: t.String(), Nick: set.nick,
			By: a.name, ByRank: a.rank.String(), Reason: reason, Since: now, Until: until}})
	}
	kept, err := d.putBans(ctx, bans, dur)
	if err != nil {
		return nil, err
	}
	if len(kept) == len(bans) {
		return []string{fmt.Sprintf("nothing changed: %s has a longer or higher ban (%s); its author's rank can /unban it first", set.label, strings.Join(kept, ", "))}, nil
	}
	d.logAction("ban", a.name, set.label, until, reason)
	removed, spared := d.removeBanned(a, bans, room.Reason{Kind: room.ReasonBanned, Detail: detail(a.name, until, reason)})
	if len(removed) == 0 {
		d.announce(fmt.Sprintf("%s banned %s", a.name, detail(set.label, until, reason)))
	}
	out := []string{banAnswer(set.label, len(bans), len(removed), spared)}
	if len(kept) > 0 {
		out = append(out, fmt.Sprintf("%d of them kept a longer or higher ban they had (%s): its author's rank can /unban it first", len(kept), strings.Join(kept, ", ")))
	}
	return out, nil
}

// banAnswer is what /ban tells its author: what it banned, how many
// present it removed, and how many present it named but spared.
func banAnswer(label string, banned, removed, spared int) string {
	s := fmt.Sprintf("banned %s: %s; removed %d present", label, counted(banned, "credential or address", "credentials and addresses"), removed)
	if spared > 0 {
		s += fmt.Sprintf("; spared %d present on its address (registered to another account, or of your rank or above)", spared)
	}
	return s
}

// longerBan returns the ban in force at the key of b that outlasts b, as
// /banned words its end; ok is false if there is none. The caller holds
// d.mu.
func (v *view) longerBan(b ban, now time.Time) (string, bool) {
	old, ok := v.bans[b.target.key()]
	if !ok || expired(old.rec.Until, now) {
		return "", false
	}
	switch {
	case old.rec.authorRank() > b.rec.authorRank():
		// An operator's ban never replaces an owner's: it could then
		// lift it (lifting needs the author's rank).
		return banTargetText(old.rec) + " set by " + article(old.rec.authorRank()), true
	case old.rec.Until.IsZero() && !b.rec.Until.IsZero():
		return banTargetText(old.rec) + " until lifted", true
	case !old.rec.Until.IsZero() && !b.rec.Until.IsZero() && old.rec.Until.After(b.rec.Until):
		return banTargetText(old.rec) + " until " + formatTime(old.rec.Until), true
	}
	return "", false
}

// banTargetText names what a ban holds as operators may read it: the
// credential or the prefix its author typed, but for the address a ban by
// nickname took, only whose address it was (operators see fingerprints,
// never a member's address).
func banTargetText(b banRecord) string {
	if b.Nick != "" && strings.HasPrefix(b.Target, "ip=") {
		return "the address of " + b.Nick
	}
	return b.Target
}

// keepLonger drops from bans those whose target has a longer ban in
// force, or one set by a higher rank, and says which those are.
func (d *Directory) keepLonger(bans []ban) ([]ban, []string) {
	now := d.now()
	d.mu.RLock()
	defer d.mu.RUnlock()
	var write []ban
	var kept []string
	for _, b := range bans {
		if what, ok := d.v.longerBan(b, now); ok {
			kept = append(kept, what)
			continue
		}
		write = append(write, b)
	}
	return write, kept
}

// putBans stores bans, each for ttl (0: until lifted), and puts them in
// the view, save those whose target has a longer ban, which it keeps
// and names. If one cannot be stored, those stored are taken back (with
// a context that outlives ctx); those that cannot be are kept in the
// view too, and the error says the change was partial.
func (d *Directory) putBans(ctx context.Context, bans []ban, ttl time.Duration) ([]string, error) {
	if err := d.lockW(ctx); err != nil {
		return nil, err
	}
	defer d.unlockW()
	bans, kept := d.keepLonger(bans)
	for i, b := range bans {
		err := d.store(ctx, "ban", func(ctx context.Context) error {
			return d.backend.Put(ctx, Bans, b.target.key(), encode(b.rec), ttl)
		})
		if err != nil {
			left := d.rollbackBans(detached(ctx), bans[:i])
			d.setBans(left)
			return nil, d.partial("ban", "/banned", len(left), len(bans), banKeys(left), err)
		}
	}
	d.setBans(bans)
	return kept, nil
}

// rollbackBans deletes bans from the Backend and returns those it could
// not delete.
func (d *Directory) rollbackBans(ctx context.Context, bans []ban) []ban {
	var left []ban
	for _, b := range bans {
		if err := d.store(ctx, "ban rollback", func(ctx context.Context) error {
			return d.backend.Delete(ctx, Bans, b.target.key())
		}); err != nil {
			left = append(left, b)
		}
	}
	return left
}

// setBans puts bans in the view, pruning the expired.
func (d *Directory) setBans(bans []ban) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.v.prune(d.now())
	for _, b := range bans {
		d.v.bans[b.target.key()] = b
	}
}

// banKeys are the bans' keys, for the log.
func banKeys(bans []ban) []string {
	keys := make([]string, len(bans))
	for i, b := range bans {
		keys[i] = b.target.key()
	}
	return keys
}

// removeBanned removes from the room every member that bans hold, save
// those a may not act on, and counts those present that bans name but
// spare: of a's rank or above, or (for the address a ban by nickname
// took) known by a credential registered to another account.
func (d *Directory) removeBanned(a *actor, bans []ban, reason room.Reason) (removed []string, spared int) {
	r := d.attached()
	if r == nil {
		return nil, 0
	}
	removed = r.Remove(func(m room.MemberInfo) bool {
		creds := CredentialsOf(m.Identity)
		d.mu.RLock()
		rk := d.v.rankOf(creds)
		holds, named := d.v.covers(bans, creds, m.Identity.Address)
		d.mu.RUnlock()
		if holds && rk < a.rank {
			return true
		}
		if named {
			spared++
		}
		return false
	}, reason)
	return removed, spared
}

// covers reports whether one of bans holds the holder of creds at addr
// (holds), and whether one names it at all (named): the address a ban
// by nickname took names everyone there, but does not hold whoever
// presents a credential registered to another account. The caller
// holds d.mu.
func (v *view) covers(bans []ban, creds []Credential, addr string) (holds, named bool) {
	ip, err := netip.ParseAddr(addr)
	for _, b := range bans {
		switch {
		case !b.target.Prefix.IsValid():
			if hasCred(creds, b.target.Cred) {
				return true, true
			}
		case err == nil && b.target.Prefix.Contains(ip.Unmap()):
			named = true
			if !v.registeredElsewhere(creds, b.rec.Nick) {
				return true, true
			}
		}
	}
	return false, named
}

// registeredElsewhere reports whether nick is a banned nickname and one
// of creds is registered to an account other than nick's: a registered
// member is known by its credential, so the address of a banned
// nickname does not hold it. The caller holds d.mu.
func (v *view) registeredElsewhere(creds []Credential, nick string) bool {
	if nick == "" {
		return false
	}
	for _, c := range creds {
		if key, ok := v.byCred[c]; ok && key != keyOf(nick) {
			return true
		}
	}
	return false
}

// unban lifts the bans a target names: fp=, ip=, or every ban made of a
// nickname and of its account's credentials.
func (d *Directory) unban(ctx context.Context, a *actor, args []string) ([]string, error) {
	if len(args) != 1 {
		return nil, room.ErrUsage
	}
	keys, label, err := d.bansOf(args[0])
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s is not banned", label)
	}
	if err := canLift(a, d.banAuthor(keys), "the ban on "+label); err != nil {
		return nil, err
	}
	if err := d.lockW(ctx); err != nil {
		return nil, err
	}
	defer d.unlockW()
	for i, key := range keys {
		if err := d.store(ctx, "unban", func(ctx context.Context) error {
			return d.backend.Delete(ctx, Bans, key)
		}); err != nil {
			return nil, d.partial("unban", "/banned", i, len(keys), keys[:i], err)
		}
		d.mu.Lock()
		delete(d.v.bans, key)
		d.mu.Unlock()
	}
	d.logAction("unban", a.name, label, time.Time{}, "")
	return d.told(a, fmt.Sprintf("%s lifted the ban on %s", a.name, label)), nil
}

// banAuthor is the highest rank among the authors of the bans at keys.
func (d *Directory) banAuthor(keys []string) rank {
	d.mu.RLock()
	defer d.mu.RUnlock()
	author := rankMember
	for _, key := range keys {
		if b, ok := d.v.bans[key]; ok {
			author = max(author, b.rec.authorRank())
		}
	}
	return author
}

// bansOf returns the keys of the bans in force in the view that word
// names.
func (d *Directory) bansOf(word string) ([]string, string, error) {
	if c, ok, err := parseFP(word); ok || err != nil {
		return d.existing(banTarget{Cred: c}.key()), c.String(), err
	}
	if p, ok, err := parseIP(word); ok || err != nil {
		if errors.Is(err, errTooFine) {
			err = nil // a ban stored before they were refused can be lifted
		}
		return d.existing(banTarget{Prefix: p}.key()), p.String(), err
	}
	if err := room.ValidateNick(word); err != nil {
		return nil, "", fmt.Errorf("%w: %v", room.ErrUsage, err)
	}
	key, now := keyOf(word), d.now()
	d.mu.RLock()
	defer d.mu.RUnlock()
	var creds []Credential
	if acct, ok := d.v.accounts[key]; ok {
		creds = acct.creds
	}
	var keys []string
	for k, b := range d.v.bans {
		if expired(b.rec.Until, now) {
			continue
		}
		if b.rec.Nick != "" && keyOf(b.rec.Nick) == key || !b.target.Prefix.IsValid() && hasCred(creds, b.target.Cred) {
			keys = append(keys, k)
		}
	}
	return keys, word, nil
}

// existing returns key if the view has a ban in force at it.
func (d *Directory) existing(key string) []string {
	now := d.now()
	d.mu.RLock()
	defer d.mu.RUnlock()
	if b, ok := d.v.bans[key]; ok && !expired(b.rec.Until, now) {
		return []string{key}
	}
	return nil
}

// banned lists the bans in force, oldest first, bounded.
func (d *Directory) banned(_ context.Context, _ *actor, args []string) ([]string, error) {
	if len(args) > 0 {
		return nil, room.ErrUsage
	}
	now := d.now()
	d.mu.RLock()
	list := make([]banRecord, 0, len(d.v.bans))
	for _, b := range d.v.bans {
		if !expired(b.rec.Until, now) {
			list = append(list, b.rec)
		}
	}
	d.mu.RUnlock()
	if len(list) == 0 {
		return []string{"nobody is banned"}, nil
	}
	slices.SortFunc(list, func(x, y banRecord) int {
		return cmp.Or(x.Since.Compare(y.Since), strings.Compare(x.Target, y.Target))
	})
	out := []string{counted(len(list), "ban", "bans") + ":"}
	for _, b := range list[:min(len(list), maxListLines)] {
		out = append(out, banLine(b))
	}
	if len(list) > maxListLines {
		out = append(out, fmt.Sprintf("and %d more", len(list)-maxListLines))
	}
	return out, nil
}

// banLine is one line of /banned (see banTargetText).
func banLine(b banRecord) string {
	s := banTargetText(b)
	if s == b.Target && b.Nick != "" {
		s += " (" + b.Nick + ")"
	}
	s += " by " + b.By + " since " + formatTime(b.Since)
	if !b.Until.IsZero() {
		s += " until " + formatTime(b.Until)
	}
	if b.Reason != "" {
		s += ": " + b.Reason
	}
	return s
}

// counted is n and the noun for n: "1 ban", "2 bans".
func counted(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
