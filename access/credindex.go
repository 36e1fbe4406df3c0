package access

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The credential index (bucket Credentials) makes one credential belong
// to one account across the nodes of a room: /register and linking
// create a credential's entry, naming the account's nickname key, before
// they write the account; /unregister deletes the account, then the
// entries. A crash between the two leaves an entry that no account
// backs: once it is older than staleIndexAfter, the next claim of its
// credential writes over it.

// staleIndexAfter is how old an entry whose account does not name its
// credential must be to be written over: older than any claim still
// under way (whose account is about to be written).
const staleIndexAfter = time.Minute

// errCredTaken refuses a credential another account holds, on this node
// or another.
var errCredTaken = errors.New("this key is already registered to another account")

// credIndexRecord is an entry of the credential index.
type credIndexRecord struct {
	V       int       `json:"v"`
	Account string    `json:"account"` // the nickname key
	Since   time.Time `json:"since"`
}

// claimCreds creates the index entries of creds for the account at key.
// If one is another account's, it takes back those it created and
// returns an error wrapping errCredTaken. The caller holds the write
// lock (lockW).
func (d *Directory) claimCreds(ctx context.Context, key string, creds []Credential) error {
	val := encode(credIndexRecord{V: recordVersion, Account: key, Since: d.now().UTC()})
	for i, c := range creds {
		err := d.store(ctx, "claim credential", func(ctx context.Context) error {
			return d.backend.Create(ctx, Credentials, c.String(), val, 0)
		})
		if errors.Is(err, ErrExists) {
			err = d.claimTaken(ctx, key, c, val)
		}
		if err != nil {
			d.releaseCreds(detached(ctx), key, creds[:i])
			return err
		}
	}
	return nil
}

// claimTaken decides a claim of c whose entry exists: the entry is
// written over if it is the account's own, or stale; else c is taken.
func (d *Directory) claimTaken(ctx context.Context, key string, c Credential, val []byte) error {
	var held []byte
	var ok bool
	err := d.store(ctx, "claim credential", func(ctx context.Context) (err error) {
		held, ok, err = d.backend.Get(ctx, Credentials, c.String())
		return err
	})
	if err != nil {
		return err
	}
	if ok {
		if owner, stale := d.indexEntry(ctx, c, held); !stale && owner != key {
			return fmt.Errorf("%w (%s)", errCredTaken, c)
		}
	}
	return d.store(ctx, "claim credential", func(ctx context.Context) error {
		return d.backend.Put(ctx, Credentials, c.String(), val, 0)
	})
}

// indexEntry reads an entry of c: the account it names, and whether it
// is stale (unreadable, or old and its account does not name c). An
// entry whose account cannot be read now is not stale.
func (d *Directory) indexEntry(ctx context.Context, c Credential, held []byte) (string, bool) {
	var rec credIndexRecord
	if err := decode(held, &rec, func() int { return rec.V }); err != nil || len(rec.Account) > 1<<10 {
		d.log.Warn("access: writing over a bad credential index entry", "credential", c.String(), "err", err)
		return "", true
	}
	if d.now().Sub(rec.Since) < staleIndexAfter {
		return rec.Account, false
	}
	var acct []byte
	var ok bool
	if err := d.store(ctx, "check credential", func(ctx context.Context) (err error) {
		acct, ok, err = d.backend.Get(ctx, Accounts, rec.Account)
		return err
	}); err != nil {
		return rec.Account, false
	}
	var ar accountRecord
	if ok && decode(acct, &ar, func() int { return ar.V }) == nil {
		for _, s := range ar.Creds {
			if s == c.String() {
				return rec.Account, false
			}
		}
	}
	d.log.Warn("access: writing over a stale credential index entry (its account does not name it)", "credential", c.String(), "account", cut(rec.Account))
	return rec.Account, true
}

// releaseCreds deletes the index entries of creds that name the account
// at key; a failure is logged (the entry is then stale, and written over
// by the next claim after staleIndexAfter).
func (d *Directory) releaseCreds(ctx context.Context, key string, creds []Credential) {
	for _, c := range creds {
		var held []byte
		var ok bool
		err := d.store(ctx, "release credential", func(ctx context.Context) (err error) {
			held, ok, err = d.backend.Get(ctx, Credentials, c.String())
			return err
		})
		if err != nil || !ok {
			continue
		}
		var rec credIndexRecord
		if decode(held, &rec, func() int { return rec.V }) == nil && rec.Account != key {
			continue
		}
		_ = d.store(ctx, "release credential", func(ctx context.Context) error {
			return d.backend.Delete(ctx, Credentials, c.String())
		})
	}
}

// backfillIndex creates the index entries missing for the loaded
// accounts (registered before the index existed), on a shared Backend;
// a failure is logged, and leaves those credentials guarded by the view
// only.
func (d *Directory) backfillIndex(ctx context.Context) {
	if !d.shared {
		return
	}
	var have map[string][]byte
	if err := d.store(ctx, "list credentials", func(ctx context.Context) (err error) {
		have, err = d.backend.List(ctx, Credentials)
		return err
	}); err != nil {
		return
	}
	type entry struct {
		cred string
		val  []byte
	}
	var missing []entry
	d.mu.RLock()
	for key, acct := range d.v.accounts {
		for _, c := range acct.creds {
			if _, ok := have[c.String()]; !ok {
				missing = append(missing, entry{c.String(), encode(credIndexRecord{V: recordVersion, Account: key, Since: acct.rec.Since})})
			}
		}
	}
	d.mu.RUnlock()
	for _, e := range missing {
		err := d.store(ctx, "backfill credential index", func(ctx context.Context) error {
			return d.backend.Create(ctx, Credentials, e.cred, e.val, 0)
		})
		if err != nil && !errors.Is(err, ErrExists) {
			return
		}
	}
	if len(missing) > 0 {
		d.log.Info("access: indexed the credentials of accounts registered before the index", "credentials", len(missing))
	}
}
