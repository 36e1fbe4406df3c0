package access

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// On a shared Backend (the nodes of a room), link codes live in the
// Links bucket, each with the code's time to live, so that a code made
// on one node is good on every node; a code is taken from the bucket
// when used (Taker), so it stays good once. The node that issues a code
// also keeps it in its own links, for their bounds.

// linkRecord is a link code in Links.
type linkRecord struct {
	V       int    `json:"v"`
	Account string `json:"account"` // the account's nickname key
	// Since is the account's registration: a code is good only for the
	// account it was made for, not for one registered again under the
	// same nickname.
	Since   time.Time `json:"since"`
	Expires time.Time `json:"expires"`
}

// issueCode returns a fresh link code for acct.
func (d *Directory) issueCode(ctx context.Context, acct *account) (string, error) {
	key, now := keyOf(acct.rec.Nick), d.now()
	code, dropped, err := d.links.issue(key, now)
	if d.shared && dropped != "" {
		_ = d.store(ctx, "drop link", func(ctx context.Context) error {
			return d.backend.Delete(ctx, Links, dropped)
		})
	}
	if err != nil || !d.shared {
		return code, err
	}
	rec := linkRecord{V: recordVersion, Account: key, Since: acct.rec.Since, Expires: now.Add(linkTTL).UTC()}
	if err := d.store(ctx, "link", func(ctx context.Context) error {
		return d.backend.Create(ctx, Links, code, encode(rec), linkTTL)
	}); err != nil {
		d.links.redeem(code, now)
		return "", err
	}
	return code, nil
}

// redeemCode consumes code and returns its account's nickname key and
// registration time (zero on a Backend of one node, whose codes are
// forgotten when their account is unregistered).
func (d *Directory) redeemCode(ctx context.Context, code string) (string, time.Time, bool, error) {
	now := d.now()
	code = strings.ToUpper(code)
	key, ok := d.links.redeem(code, now)
	if !d.shared {
		return key, time.Time{}, ok, nil
	}
	if len(code) != linkCodeLen {
		return "", time.Time{}, false, nil
	}
	var val []byte
	if err := d.store(ctx, "redeem link", func(ctx context.Context) (err error) {
		val, ok, err = d.taker.Take(ctx, Links, code)
		return err
	}); err != nil || !ok {
		return "", time.Time{}, false, err
	}
	var rec linkRecord
	if err := decode(val, &rec, func() int { return rec.V }); err != nil || len(rec.Account) > 1<<10 {
		d.metrics.badRecords.Inc()
		d.log.Warn("access: skipping a bad stored link code", "err", fmt.Sprint(err))
		return "", time.Time{}, false, nil
	}
	if !now.Before(rec.Expires) {
		return "", time.Time{}, false, nil
	}
	return rec.Account, rec.Since, true, nil
}
