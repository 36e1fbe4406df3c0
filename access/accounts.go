package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"chatd/room"
)

// sshKeysUnseenText is /register's answer to an SSH member of a server
// that lets SSH clients in without asking for a key.
const sshKeysUnseenText = "this server lets SSH clients in without asking for a key (--ssh-none-auth), so it never sees yours and cannot register it: " +
	"register over TLS with a certificate (the bundled chat has one of its own), or ask the host to run chatd with --ssh-none-auth=false"

// register binds the member's nickname to its connection's credentials.
// "/register link" answers a one-time code for the member's account;
// "/register CODE", from a connection presenting another credential,
// adds that credential to the code's account. No credential is ever
// added that the connection has not presented.
func (d *Directory) register(ctx context.Context, a *actor, args []string) ([]string, error) {
	if a.member == nil || len(args) > 1 {
		return nil, room.ErrUsage
	}
	if len(a.creds) == 0 && a.id.Transport == room.TransportSSH && d.sshKeysUnseen {
		return nil, errors.New(sshKeysUnseenText)
	}
	if len(a.creds) == 0 {
		return nil, fmt.Errorf("you connected without a key or certificate, so there is nothing to register: %s", howToGetCredential(a.id.Transport))
	}
	if len(args) == 1 {
		if strings.HasPrefix(strings.ToLower(args[0]), "fp=") {
			return nil, errors.New("/register fp= is gone: run /register link, then /register CODE from a connection with the new key or certificate")
		}
		if strings.EqualFold(args[0], "link") {
			return d.issueLink(ctx, a)
		}
		return d.redeemLink(ctx, a, args[0])
	}
	if !d.limits.register.allow(a.id.Address, d.now()) {
		return nil, errors.New("too many registrations from your address; wait a minute")
	}
	nick := a.member.Nick()
	if err := d.lockW(ctx); err != nil {
		return nil, err
	}
	defer d.unlockW()
	d.mu.RLock()
	acct := d.v.accounts[keyOf(nick)]
	d.mu.RUnlock()
	if acct == nil {
		return d.createAccount(ctx, a, nick)
	}
	if !shares(acct.creds, a.creds) {
		return nil, fmt.Errorf("%q is registered to other credentials", nick)
	}
	fresh, err := d.addCredentials(ctx, a, acct, a.creds)
	if err != nil {
		return nil, err
	}
	if len(fresh) == 0 {
		return []string{fmt.Sprintf("%q is registered to %s already", acct.rec.Nick, credList(a.creds))}, nil
	}
	return d.registered(fmt.Sprintf("added %s to %q", credList(fresh), acct.rec.Nick)), nil
}

// issueLink answers a one-time code for the account of a's nickname, to
// which a's connection must hold a credential.
func (d *Directory) issueLink(ctx context.Context, a *actor) ([]string, error) {
	nick := a.member.Nick()
	d.mu.RLock()
	acct := d.v.accounts[keyOf(nick)]
	d.mu.RUnlock()
	if acct == nil {
		return nil, fmt.Errorf("%q is not registered: /register without arguments first", nick)
	}
	if !shares(acct.creds, a.creds) {
		return nil, fmt.Errorf("%q is registered to other credentials", nick)
	}
	code, err := d.issueCode(ctx, acct)
	if err != nil {
		return nil, err
	}
	return linkAnswer(acct.rec.Nick, code), nil
}

// redeemLink adds a's credentials to the account of code. Every attempt
// counts against the address's limit, so that codes cannot be guessed.
func (d *Directory) redeemLink(ctx context.Context, a *actor, code string) ([]string, error) {
	if !d.limits.link.allow(a.id.Address, d.now()) {
		return nil, errors.New("too many link codes tried from your address; wait a minute")
	}
	key, since, ok, err := d.redeemCode(ctx, code)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errBadLinkCode
	}
	if err := d.lockW(ctx); err != nil {
		return nil, err
	}
	defer d.unlockW()
	d.mu.RLock()
	acct := d.v.accounts[key]
	d.mu.RUnlock()
	if acct == nil || !since.IsZero() && !acct.rec.Since.Equal(since) {
		return nil, errBadLinkCode
	}
	if d.holdsOwner(a.creds) {
		return nil, errOwnerLink
	}
	if d.accountBanned(acct) {
		return nil, fmt.Errorf("%q is banned: no key or certificate can be linked to it", acct.rec.Nick)
	}
	fresh, err := d.addCredentials(ctx, a, acct, a.creds)
	if err != nil {
		return nil, err
	}
	if len(fresh) == 0 {
		return []string{fmt.Sprintf("%q is registered to %s already", acct.rec.Nick, credList(a.creds))}, nil
	}
	verb := "signs"
	if len(fresh) > 1 {
		verb = "sign"
	}
	return d.registered(fmt.Sprintf("your %s now also %s in as %q", credList(fresh), verb, acct.rec.Nick)), nil
}

// accountBanned reports whether a ban in force holds one of acct's
// credentials: a code issued before the ban must not bring a new
// credential (and the account's role) back past it.
func (d *Directory) accountBanned(acct *account) bool {
	now := d.now()
	d.mu.RLock()
	defer d.mu.RUnlock()
	_, banned := d.v.banOf(acct.creds, "", now)
	return banned
}

// errOwnerLink refuses to link an owner's credential into an account: an
// owner's rank would then come with the account's nickname.
var errOwnerLink = errors.New("owners' credentials are named in the admins file, not linked by code")

// holdsOwner reports whether one of creds is an owner's.
func (d *Directory) holdsOwner(creds []Credential) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.v.isOwner(creds)
}

// registered is the answer text of a /register that changed an account;
// on an ephemeral Backend it says that a restart forgets it.
func (d *Directory) registered(text string) []string {
	if d.ephemeral {
		text += "; this server keeps accounts in memory only: it forgets them when it restarts"
	}
	return []string{text}
}

// createAccount registers nick to a's credentials. The caller holds
// the write lock (lockW).
func (d *Directory) createAccount(ctx context.Context, a *actor, nick string) ([]string, error) {
	if err := d.checkFree(a.creds); err != nil {
		return nil, err
	}
	// A role left behind (a failed /unregister) must not make the new
	// holder of the nickname an operator.
	if err := d.dropRole(ctx, keyOf(nick)); err != nil {
		return nil, err
	}
	if err := d.claimCreds(ctx, keyOf(nick), a.creds); err != nil {
		return nil, err
	}
	rec := accountRecord{V: recordVersion, Nick: nick, Creds: credStrings(a.creds), Since: d.now().UTC()}
	err := d.store(ctx, "register", func(ctx context.Context) error {
		return d.backend.Create(ctx, Accounts, keyOf(nick), encode(rec), 0)
	})
	if err != nil {
		d.releaseCreds(detached(ctx), keyOf(nick), a.creds)
	}
	if errors.Is(err, ErrExists) {
		return nil, fmt.Errorf("%q was registered by someone else just now", nick)
	}
	if err != nil {
		return nil, err
	}
	d.setAccount(&account{rec: rec, creds: slices.Clone(a.creds)})
	d.logAction("register", a.name, nick, time.Time{}, "")
	return d.registered(fmt.Sprintf("%q is now registered to %s: only a connection with it can take this nickname", nick, credList(a.creds))), nil
}

// checkFree refuses credentials that belong to an account already.
func (d *Directory) checkFree(creds []Credential) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, c := range creds {
		if key, ok := d.v.byCred[c]; ok {
			return fmt.Errorf("%s belongs to %q already; a credential belongs to one account only", c, d.v.accounts[key].rec.Nick)
		}
	}
	return nil
}

// addCredentials adds to acct those of creds it lacks, and returns
// them (none: nothing changed). The caller holds the write lock (lockW).
func (d *Directory) addCredentials(ctx context.Context, a *actor, acct *account, creds []Credential) ([]Credential, error) {
	var fresh []Credential
	for _, c := range creds {
		if !hasCred(acct.creds, c) {
			fresh = append(fresh, c)
		}
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	if err := d.checkFree(fresh); err != nil {
		return nil, err
	}
	all := append(slices.Clone(acct.creds), fresh...)
	if len(all) > MaxCredentials {
		return nil, fmt.Errorf("an account has at most %d credentials; /unregister and register again to start over", MaxCredentials)
	}
	rec := acct.rec
	rec.Creds = credStrings(all)
	if err := d.claimCreds(ctx, keyOf(rec.Nick), fresh); err != nil {
		return nil, err
	}
	err := d.store(ctx, "register", func(ctx context.Context) error {
		return d.backend.Put(ctx, Accounts, keyOf(rec.Nick), encode(rec), 0)
	})
	if err != nil {
		d.releaseCreds(detached(ctx), keyOf(rec.Nick), fresh)
		return nil, err
	}
	d.setAccount(&account{rec: rec, creds: all})
	d.logAction("register", a.name, rec.Nick, time.Time{}, "added "+credList(fresh))
	return fresh, nil
}

// setAccount puts acct in the view, replacing the account of its
// nickname.
func (d *Directory) setAccount(acct *account) {
	key := keyOf(acct.rec.Nick)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dropAccount(key)
	d.v.accounts[key] = acct
	for _, c := range acct.creds {
		d.v.byCred[c] = key
	}
}

// dropAccount takes the account at key out of the view. The caller
// holds d.mu.
func (d *Directory) dropAccount(key string) {
	if old, ok := d.v.accounts[key]; ok {
		for _, c := range old.creds {
			delete(d.v.byCred, c)
		}
		delete(d.v.accounts, key)
	}
}

// credList writes credentials for people.
func credList(creds []Credential) string {
	parts := make([]string, len(creds))
	for i, c := range creds {
		parts[i] = c.Kind.String() + " " + c.String()
	}
	return strings.Join(parts, ", ")
}

// unregister removes the account of the member's nickname, or, for an
// operator, of NICK, with its operator role.
func (d *Directory) unregister(ctx context.Context, a *actor, args []string) ([]string, error) {
	var nick string
	switch {
	case len(args) > 1:
		return nil, room.ErrUsage
	case len(args) == 1:
		nick = args[0]
	case a.member != nil:
		nick = a.member.Nick()
	default:
		return nil, room.ErrUsage
	}
	t, _, err := d.findTarget(nick)
	if err != nil {
		return nil, err
	}
	if t.acct == nil {
		return nil, fmt.Errorf("%q is not registered", nick)
	}
	if !shares(t.acct.creds, a.creds) {
		if a.rank < rankOperator {
			return nil, fmt.Errorf("%w: only an operator can unregister another's nickname", ErrPermissionDenied)
		}
		if err := canAct(a, t.rank, t.nick); err != nil {
			return nil, err
		}
	}
	return d.dropAccountOf(ctx, a, t)
}

// dropAccountOf removes t's account and role, unless the account changed
// since t was found (unregistered, and registered again by another).
func (d *Directory) dropAccountOf(ctx context.Context, a *actor, t target) ([]string, error) {
	if err := d.lockW(ctx); err != nil {
		return nil, err
	}
	defer d.unlockW()
	key := keyOf(t.nick)
	if err := d.sameAccount(key, t.acct); err != nil {
		return nil, err
	}
	d.mu.RLock()
	_, hadRole := d.v.roles[key]
	d.mu.RUnlock()
	if err := d.dropRole(ctx, key); err != nil {
		return nil, err
	}
	if err := d.store(ctx, "unregister", func(ctx context.Context) error {
		return d.backend.Delete(ctx, Accounts, key)
	}); err != nil {
		if hadRole {
			return nil, d.partial("unregister", "/whois "+t.nick, 1, 2, []string{"roles/" + key}, err)
		}
		return nil, err
	}
	d.mu.Lock()
	d.dropAccount(key)
	d.mu.Unlock()
	d.releaseCreds(detached(ctx), key, t.acct.creds)
	d.links.forget(key)
	d.logAction("unregister", a.name, t.nick, time.Time{}, "")
	if a.member == nil || !shares(t.acct.creds, a.creds) {
		d.announce(fmt.Sprintf("%s unregistered %s", a.name, t.nick))
	}
	return []string{fmt.Sprintf("%q is no longer registered", t.nick)}, nil
}

// whois tells what is known of NICK: its credentials' fingerprints, role,
// since when it is registered, and whether it is present, over which
// transport, since when. Never an address.
func (d *Directory) whois(_ context.Context, _ *actor, args []string) ([]string, error) {
	if len(args) != 1 {
		return nil, room.ErrUsage
	}
	t, found, err := d.findTarget(args[0])
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, errNobody(args[0])
	}
	out := []string{fmt.Sprintf("%s: %s", t.nick, t.rank)}
	if t.acct != nil {
		out = append(out, "registered since "+formatTime(t.acct.rec.Since))
		for _, c := range t.acct.creds {
			out = append(out, "- "+c.Kind.String()+" "+c.String())
		}
	} else {
		out = append(out, "not registered")
	}
	if t.remote != nil { // another node's word: never its address
		return append(out, fmt.Sprintf("here now on node %s over %s since %s", t.remote.Node, t.remote.Transport, formatTime(t.remote.Joined))), nil
	}
	if t.present == nil {
		return append(out, "not here now"), nil
	}
	out = append(out, fmt.Sprintf("here now over %s since %s", t.present.Identity.Transport, formatTime(t.present.Joined)))
	for _, c := range CredentialsOf(t.present.Identity) {
		out = append(out, "- connected with "+c.Kind.String()+" "+c.String())
	}
	return out, nil
}

// sameAccount refuses to go on if the account at key is no longer snap,
// the snapshot a command checked. The caller holds the write lock.
func (d *Directory) sameAccount(key string, snap *account) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	now := d.v.accounts[key]
	if now == nil || snap == nil || !now.rec.Since.Equal(snap.rec.Since) || !slices.Equal(now.rec.Creds, snap.rec.Creds) {
		return fmt.Errorf("%q changed meanwhile (unregistered or registered again); nothing changed: look again with /whois", keyOrNick(snap, key))
	}
	return nil
}

// keyOrNick names the account of a snapshot, or its key.
func keyOrNick(snap *account, key string) string {
	if snap != nil {
		return snap.rec.Nick
	}
	return key
}

// dropRole deletes the operator role of the nickname key, if it has one,
// from the Backend and the view. The caller holds the write lock (lockW).
func (d *Directory) dropRole(ctx context.Context, key string) error {
	d.mu.RLock()
	_, ok := d.v.roles[key]
	d.mu.RUnlock()
	if !ok {
		return nil
	}
	if err := d.store(ctx, "drop role", func(ctx context.Context) error {
		return d.backend.Delete(ctx, Roles, key)
	}); err != nil {
		return err
	}
	d.mu.Lock()
	delete(d.v.roles, key)
	d.mu.Unlock()
	return nil
}
