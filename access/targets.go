package access

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"chatd/room"
)

// MaxDuration bounds a ban's or a mute's duration.
const MaxDuration = 365 * 24 * time.Hour

// target is who a nickname-named command acts on: whoever is present
// under the nickname (on this node, or else on another), and its account
// if it is registered.
type target struct {
	nick    string
	present *room.MemberInfo
	remote  *room.Peer // on another node, as its node told; nil if present or absent
	acct    *account   // a snapshot; nil if not registered
	creds   []Credential
	rank    rank
}

// address is the address of the member present under the nickname, here
// or on another node; "" if none.
func (t target) address() string {
	switch {
	case t.present != nil:
		return t.present.Identity.Address
	case t.remote != nil:
		return t.remote.Identity.Address
	}
	return ""
}

// findTarget resolves nick: present (here, or on another node: Room.Peer),
// registered, or neither (found false). The credentials of a member of
// another node are its node's word, which the cluster checked.
func (d *Directory) findTarget(nick string) (target, bool, error) {
	if err := room.ValidateNick(nick); err != nil {
		return target{}, false, fmt.Errorf("%w: %v", room.ErrUsage, err)
	}
	t := target{nick: nick}
	if r := d.attached(); r != nil {
		if info, ok := r.Find(nick); ok {
			t.present, t.nick = &info, info.Nick
			t.creds = CredentialsOf(info.Identity)
		} else if p, ok := r.Peer(nick); ok {
			t.remote, t.nick = &p, p.Nick
			t.creds = wellFormed(CredentialsOf(p.Identity))
		}
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if a, ok := d.v.accounts[keyOf(nick)]; ok {
		cp := *a
		t.acct, t.nick = &cp, a.rec.Nick
		for _, c := range a.creds {
			if !hasCred(t.creds, c) {
				t.creds = append(t.creds, c)
			}
		}
	}
	t.rank = d.v.rankOf(t.creds)
	return t, t.present != nil || t.remote != nil || t.acct != nil, nil
}

// wellFormed keeps the credentials of list that are fingerprints as
// chatd writes them (another node's word is checked before it is banned).
func wellFormed(list []Credential) []Credential {
	out := list[:0]
	for _, c := range list {
		text := c.Fingerprint
		if c.Kind == TLSCert {
			text = "sha256:" + text
		}
		if p, err := ParseCredential(text); err == nil && p == c {
			out = append(out, c)
		}
	}
	return out
}

// hasCred reports whether list holds c.
func hasCred(list []Credential, c Credential) bool {
	for _, x := range list {
		if x == c {
			return true
		}
	}
	return false
}

// canAct refuses an action of a on someone of rank r: operators cannot
// act on owners, and only owners on operators.
func canAct(a *actor, r rank, who string) error {
	if a.rank > r {
		return nil
	}
	return fmt.Errorf("%w: %s is %s; only %s can do that", ErrPermissionDenied, who, article(r), higher(r))
}

// canLift refuses to lift a ban or a mute whose author ranks above a:
// an operator cannot undo an owner's decision.
func canLift(a *actor, author rank, what string) error {
	if a.rank >= author {
		return nil
	}
	return fmt.Errorf("%w: %s was set by %s; only %s can lift it", ErrPermissionDenied, what, article(author), plural(author))
}

// plural names the holders of a rank: "owners".
func plural(r rank) string {
	if r == rankOwner {
		return "owners"
	}
	return "operators"
}

// article names a rank with its article: "an owner".
func article(r rank) string {
	if r == rankOwner {
		return "an owner"
	}
	if r == rankOperator {
		return "an operator"
	}
	return "a member"
}

// higher names who may act on someone of rank r.
func higher(r rank) string {
	if r >= rankOperator {
		return "owners"
	}
	return "operators"
}

// errNobody says nick is neither present nor registered.
func errNobody(nick string) error {
	return fmt.Errorf("no one called %q is here or registered", nick)
}

// maxDurationWord bounds the length of a word read as a duration.
const maxDurationWord = 16

// errNotDuration says word, in the DURATION position, is not a duration
// commands take: never a reason, so that a mistyped timed ban is never a
// permanent one.
func errNotDuration(word string) error {
	return fmt.Errorf("%w: %s is not a duration (1s to 365d, like 30m, 2h, 7d)", room.ErrUsage, cut(word))
}

// parseDuration reads a duration as commands take it: a number and a unit
// (30m, 2h, 7d), Go's form (1h30m), or days then Go's form (1d12h);
// from 1s to MaxDuration. ok is false if s is not meant as a duration
// (it does not start with a digit, nor with a sign then a digit); a word
// meant as one that is not one in range is an error, never a reason.
func parseDuration(s string) (time.Duration, bool, error) {
	if !looksLikeDuration(s) {
		return 0, false, nil
	}
	dur, ok := readDuration(strings.TrimPrefix(s, "+"))
	if !ok || dur < time.Second || dur > MaxDuration {
		return 0, true, errNotDuration(s)
	}
	return dur, true, nil
}

// readDuration reads s as [Nd][Go duration], unsigned; ok is false if it
// is not of that form or is too long to be in range.
func readDuration(s string) (time.Duration, bool) {
	if len(s) > maxDurationWord || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	var dur time.Duration
	if days, rest, found := strings.Cut(s, "d"); found {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 366 {
			return 0, false
		}
		dur, s = time.Duration(n)*24*time.Hour, rest
		if s == "" {
			return dur, true
		}
	}
	more, err := time.ParseDuration(s)
	if err != nil || more < 0 {
		return 0, false
	}
	return dur + more, true
}

// looksLikeDuration reports whether s, in the DURATION position, is meant
// as a duration: a digit first, or a sign then a digit.
func looksLikeDuration(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	return s != "" && s[0] >= '0' && s[0] <= '9'
}

// durationAndReason reads the optional DURATION and REASON that follow a
// command's target.
func durationAndReason(args []string) (time.Duration, string, error) {
	var dur time.Duration
	if len(args) > 0 {
		d, ok, err := parseDuration(args[0])
		if err != nil {
			return 0, "", err
		}
		if ok {
			dur, args = d, args[1:]
		}
	}
	return dur, reasonOf(args), nil
}

// reasonOf joins the words of a reason, cleaned and bounded.
func reasonOf(words []string) string {
	return cleanText(strings.Join(words, " "), MaxReasonBytes)
}

// parseFP reads "fp=FINGERPRINT"; ok is false if s is not of that form.
func parseFP(s string) (Credential, bool, error) {
	rest, ok := strings.CutPrefix(s, "fp=")
	if !ok {
		return Credential{}, false, nil
	}
	c, err := ParseCredential(rest)
	if err != nil || strings.ContainsAny(rest, " \t") {
		return Credential{}, true, fmt.Errorf("%w: fp= takes a SHA256: key or sha256: certificate fingerprint", room.ErrUsage)
	}
	return c, true, nil
}

// errTooBroad refuses a ban of too many addresses.
var errTooBroad = errors.New("that prefix is too broad: ban at most an IPv4 /16 or an IPv6 /32")

// errTooFine refuses an IPv6 prefix that chatd cannot tell apart from
// its /64.
var errTooFine = errors.New("ip= bans IPv6 by /64 at the finest (chatd knows IPv6 clients by their /64): name the /64, or the address alone")

// parseIP reads "ip=ADDR[/PREFIX]": an address alone is its /64 if IPv6,
// else itself; ok is false if s is not of that form. An IPv6 prefix
// finer than /64 is refused: chatd knows IPv6 clients by their /64.
func parseIP(s string) (netip.Prefix, bool, error) {
	rest, ok := strings.CutPrefix(s, "ip=")
	if !ok {
		return netip.Prefix{}, false, nil
	}
	var p netip.Prefix
	if strings.Contains(rest, "/") {
		pp, err := netip.ParsePrefix(rest)
		if err != nil {
			return p, true, fmt.Errorf("%w: ip= takes an address or a prefix (192.0.2.1, 2001:db8::/48)", room.ErrUsage)
		}
		p = pp
	} else {
		addr, err := netip.ParseAddr(rest)
		if err != nil || addr.Zone() != "" {
			return p, true, fmt.Errorf("%w: ip= takes an address or a prefix (192.0.2.1, 2001:db8::/48)", room.ErrUsage)
		}
		p = addrPrefix(addr)
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
	}
	p = p.Masked()
	if p.Addr().Is6() && p.Bits() > 64 {
		return p, true, errTooFine
	}
	if tooBroad(p) {
		return p, true, errTooBroad
	}
	return p, true, nil
}

// addrPrefix is the prefix an address alone bans: an IPv6 address's /64,
// an IPv4 address itself.
func addrPrefix(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	if addr.Is4() {
		return netip.PrefixFrom(addr, 32)
	}
	p, _ := addr.Prefix(64)
	return p
}
