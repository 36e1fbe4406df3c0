package access

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"chatd/room"
)

// keyOf is a nickname's key, as the room compares nicknames.
func keyOf(nick string) string { return room.NickKey(nick) }

// rank is how much say someone has: owners over operators over members.
type rank uint8

const (
	rankMember rank = iota
	rankOperator
	rankOwner
)

// String names the rank as /whois shows it.
func (r rank) String() string {
	switch r {
	case rankOwner:
		return "owner"
	case rankOperator:
		return "operator"
	}
	return "member"
}

// rankOf returns the rank of the holder of creds. The caller holds d.mu.
func (v *view) rankOf(creds []Credential) rank {
	best := rankMember
	for _, c := range creds {
		if _, ok := v.owners[c]; ok {
			return rankOwner
		}
		if key, ok := v.byCred[c]; ok {
			if _, op := v.roles[key]; op {
				best = rankOperator
			}
		}
	}
	return best
}

// Operator reports whether the holder of id is an owner or an operator
// (room.Policy).
func (d *Directory) Operator(id room.Identity) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.v.rankOf(CredentialsOf(id)) >= rankOperator
}

// Muted reports whether the member called nick, holding id, is muted,
// by its nickname or by one of its credentials, and until when
// (room.Policy).
func (d *Directory) Muted(nick string, id room.Identity) (time.Time, bool) {
	creds, now := CredentialsOf(id), d.now()
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.v.mutedUntil(keyOf(nick), creds, now)
}

// shares reports whether a and b have a credential in common.
func shares(a, b []Credential) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// Greeting is what a joiner is told once in (room.Config.Greeting): the
// message of the day, if one is set.
func (d *Directory) Greeting(string, room.Identity) []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.v.motd.Text == "" {
		return nil
	}
	return []string{"Message of the day: " + d.v.motd.Text}
}

// Nicks wraps the room's nickname store so that a registered nickname,
// or a look-alike of it, can only be claimed by a connection holding one
// of its account's credentials.
func (d *Directory) Nicks(inner room.Nicks) room.Nicks {
	return &nicks{Nicks: inner, d: d}
}

// nicks is Directory.Nicks.
type nicks struct {
	room.Nicks
	d *Directory
}

// Claim refuses a registered nickname to anyone without one of its
// credentials; failed claims are rate-limited by address.
func (n *nicks) Claim(nick string, c room.NickClaim) error {
	if err := n.d.checkClaim(nick, c.Identity); err != nil {
		return err
	}
	return n.Nicks.Claim(nick, c)
}

// checkClaim refuses nick to id if it is registered to credentials id
// does not hold.
func (d *Directory) checkClaim(nick string, id room.Identity) error {
	d.mu.RLock()
	acct, ok := d.v.accounts[keyOf(nick)]
	holds := ok && shares(acct.creds, CredentialsOf(id))
	d.mu.RUnlock()
	if !ok || holds {
		return nil
	}
	d.metrics.refusals.WithLabelValues(refusedRegistered).Inc()
	if !d.limits.claim.allow(id.Address, d.now()) {
		return fmt.Errorf("%w: %q is registered, and there were %w from your address; wait a minute",
			room.ErrNickTaken, nick, ErrTooManyClaims)
	}
	return fmt.Errorf("%w: %q is registered; connect with one of its credentials, or choose another", room.ErrNickTaken, nick)
}

// Admit decides whether the holder of id may come in (Door): owners
// always; then the banned are refused; then the policy decides. It
// counts nothing: a gateway may ask more than once for one connection,
// and counts its refusals once (chatd_door_refusals_total).
func (d *Directory) Admit(id room.Identity) error {
	creds := CredentialsOf(id)
	now := d.now()
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.v.isOwner(creds) {
		return nil
	}
	if b, ok := d.v.banOf(creds, id.Address, now); ok {
		return bannedRefusal(b.rec)
	}
	if d.v.admits(d.policy, creds) {
		return nil
	}
	return d.policyRefusal(id, creds)
}

// LocksEveryoneOut reports whether the policy lets nobody in at all: it
// is not open, there are no owners, nothing is on the allowlist and,
// for the registered policy, no account is registered. Nobody could then
// ever /allow anyone: chatd refuses to start so.
func (d *Directory) LocksEveryoneOut() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.policy == Open || len(d.v.owners) > 0 || len(d.v.allowed) > 0 {
		return false
	}
	return d.policy == Allowlist || len(d.v.accounts) == 0
}

// isOwner reports whether one of creds is an owner's. The caller holds
// d.mu.
func (v *view) isOwner(creds []Credential) bool {
	for _, c := range creds {
		if _, ok := v.owners[c]; ok {
			return true
		}
	}
	return false
}

// admits reports whether policy lets creds in. The caller holds d.mu.
func (v *view) admits(policy Policy, creds []Credential) bool {
	if policy == Open {
		return true
	}
	for _, c := range creds {
		if _, ok := v.allowed[c]; ok {
			return true
		}
		if _, ok := v.byCred[c]; ok && policy == Registered {
			return true
		}
	}
	return false
}

// banOf returns the ban, in force at now, of one of creds or of addr.
// An address ban does not hold a holder of its author's rank or above,
// nor, if it is the address a ban by nickname took, a holder of a
// credential registered to another account. The caller holds d.mu.
func (v *view) banOf(creds []Credential, addr string, now time.Time) (ban, bool) {
	for _, c := range creds {
		if b, ok := v.bans[banTarget{Cred: c}.key()]; ok && !expired(b.rec.Until, now) {
			return b, true
		}
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return ban{}, false
	}
	ip = ip.Unmap()
	holder := v.rankOf(creds)
	for _, b := range v.bans {
		if b.target.Prefix.IsValid() && b.target.Prefix.Contains(ip) && !expired(b.rec.Until, now) &&
			holder < b.rec.authorRank() && !v.registeredElsewhere(creds, b.rec.Nick) {
			return b, true
		}
	}
	return ban{}, false
}

// bannedRefusal is what a banned connection is told.
func bannedRefusal(rec banRecord) *Refusal {
	var sb strings.Builder
	sb.WriteString("you are banned")
	if !rec.Until.IsZero() {
		sb.WriteString(" until " + formatTime(rec.Until))
	}
	if rec.Reason != "" {
		sb.WriteString(": " + rec.Reason)
	}
	return &Refusal{Kind: RefusedBanned, Reason: rec.Reason, Until: rec.Until, Text: sb.String()}
}

// policyRefusal is what a connection the policy does not let in is told.
func (d *Directory) policyRefusal(id room.Identity, creds []Credential) *Refusal {
	what := "registered members"
	if d.policy == Allowlist {
		what = "allowlisted members"
	}
	text := fmt.Sprintf("this room admits %s only: ", what)
	switch {
	case len(creds) > 0 && creds[0].Kind == TLSCert:
		text += "ask an operator to /allow your certificate " + creds[0].String()
	case len(creds) > 0:
		text += "ask an operator to /allow your key " + creds[0].String()
	case id.Transport == room.TransportSSH:
		text += "if you have a key, ask an operator to /allow it (`ssh-keygen -lf ~/.ssh/id_ed25519.pub` prints its fingerprint); if not, " + howToGetCredential(id.Transport)
	default:
		text += "connect with a key or certificate of your own, then ask an operator to /allow it; " + howToGetCredential(id.Transport)
	}
	// Over SSH a key that is not let in fails its authentication, so that
	// ssh offers its next key, which may be registered; once ssh runs out
	// of keys, a registered-only room tells it the text above.
	failAuth := d.policy == Allowlist || id.Transport == room.TransportSSH && id.KeyFingerprint != ""
	return &Refusal{Kind: RefusedByPolicy, Text: text, FailAuth: failAuth}
}

// howToGetCredential says how to make and present a credential over t.
func howToGetCredential(t room.Transport) string {
	if t == room.TransportSSH {
		return "make a key with `ssh-keygen -t ed25519` and connect with it (ssh -i ~/.ssh/id_ed25519 ...)"
	}
	return "make a certificate with `openssl req -x509 -newkey ed25519 -nodes -keyout me.key -out me.pem -days 365 -subj /CN=NICK` " +
		"and present it: `openssl s_client -connect HOST:PORT -cert me.pem -key me.key`"
}

// formatTime writes t as announcements and refusals show it.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}
