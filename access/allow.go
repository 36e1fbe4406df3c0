package access

import (
	"context"
	"fmt"
	"time"

	"chatd/room"
)

// allowTargets reads the target of /allow and /disallow: fp=, or a
// present (or registered) nickname's credentials.
func (d *Directory) allowTargets(args []string) ([]Credential, string, error) {
	if len(args) != 1 {
		return nil, "", room.ErrUsage
	}
	if c, ok, err := parseFP(args[0]); ok || err != nil {
		return []Credential{c}, c.String(), err
	}
	t, err := d.oneNick(args)
	if err != nil {
		return nil, "", err
	}
	if len(t.creds) == 0 {
		return nil, "", fmt.Errorf("%q connected without a key or certificate: there is nothing to allow; use fp=", t.nick)
	}
	return t.creds, t.nick, nil
}

// allow puts credentials on the allowlist.
func (d *Directory) allow(ctx context.Context, a *actor, args []string) ([]string, error) {
	creds, label, err := d.allowTargets(args)
	if err != nil {
		return nil, err
	}
	if err := d.lockW(ctx); err != nil {
		return nil, err
	}
	defer d.unlockW()
	now := d.now().UTC()
	for i, c := range creds {
		rec := allowRecord{V: recordVersion, Cred: c.String(), By: a.name, Since: now}
		if err := d.store(ctx, "allow", func(ctx context.Context) error {
			return d.backend.Put(ctx, Allowed, rec.Cred, encode(rec), 0)
		}); err != nil {
			return nil, d.partial("allow", "", i, len(creds), credStrings(creds[:i]), err)
		}
		d.mu.Lock()
		d.v.allowed[c] = rec
		delete(d.v.disallowed, c)
		d.mu.Unlock()
	}
	d.logAction("allow", a.name, label, time.Time{}, "")
	d.announce(fmt.Sprintf("%s allowed %s", a.name, label))
	return []string{"allowed " + credList(creds)}, nil
}

// disallow takes credentials off the allowlist.
func (d *Directory) disallow(ctx context.Context, a *actor, args []string) ([]string, error) {
	creds, label, err := d.allowTargets(args)
	if err != nil {
		return nil, err
	}
	if err := d.lockW(ctx); err != nil {
		return nil, err
	}
	defer d.unlockW()
	var done []string
	now := d.now().UTC()
	for _, c := range creds {
		if !d.allowed(c) {
			continue
		}
		// A tombstone, not a deletion: the allowlist file seeds each
		// credential once, and what /disallow took out stays out.
		rec := allowRecord{V: recordVersion, Cred: c.String(), By: a.name, Since: now, Off: true}
		if err := d.store(ctx, "disallow", func(ctx context.Context) error {
			return d.backend.Put(ctx, Allowed, rec.Cred, encode(rec), 0)
		}); err != nil {
			return nil, d.partial("disallow", "", len(done), len(creds), done, err)
		}
		d.mu.Lock()
		delete(d.v.allowed, c)
		d.v.disallowed[c] = true
		d.mu.Unlock()
		done = append(done, c.String())
	}
	if len(done) == 0 {
		return nil, fmt.Errorf("%s is not on the allowlist", label)
	}
	d.logAction("disallow", a.name, label, time.Time{}, "")
	return d.told(a, fmt.Sprintf("%s disallowed %s", a.name, label)), nil
}
