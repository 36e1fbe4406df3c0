package room

import (
	"log/slog"
	"time"
)

// Transport is how a member reached the room.
type Transport uint8

// The transports. TransportUnknown is a member joined by a program rather
// than a gateway, such as a test.
const (
	TransportUnknown Transport = iota
	TransportTLS               // the line protocol over TLS (package tlsgw)
	TransportSSH               // a chat screen over SSH (package sshgw)
)

// String names the transport, for logs: "tls", "ssh" or "unknown".
func (t Transport) String() string {
	switch t {
	case TransportTLS:
		return "tls"
	case TransportSSH:
		return "ssh"
	}
	return "unknown"
}

// Identity is who a member is, as its gateway sees it at the door. The room
// compares identities to give a held nickname back to its owner, and to
// share out the private messages a member may receive: a proven key (an SSH
// public key or a TLS client certificate) when there is one, else the
// address.
type Identity struct {
	Transport Transport
	// Address is the client's network address without the port (an IPv6
	// client's /64), as the connection limits count it.
	Address string
	// KeyFingerprint is the SHA256 fingerprint of the SSH public key the
	// client signed in with ("SHA256:..."), or "".
	KeyFingerprint string
	// CertFingerprint is the SHA-256 fingerprint of the TLS client
	// certificate the client presented and proved it holds the key of, or
	// "". The certificate is not verified: it names nobody, it only shows
	// that the same key came back.
	CertFingerprint string
}

// owner names whoever the identity stands for: its proven key if it has
// one, else its address; "" if it has neither.
func (id Identity) owner() string {
	switch {
	case id.KeyFingerprint != "":
		return "key " + id.KeyFingerprint
	case id.CertFingerprint != "":
		return "cert " + id.CertFingerprint
	case id.Address != "":
		return "address " + id.Address
	}
	return ""
}

// owns reports whether id may have back a nickname held for owner: the
// same proven key if owner had one, else the same address. An identity
// with neither owns nothing.
func (id Identity) owns(owner Identity) bool {
	switch {
	case owner.KeyFingerprint != "":
		return id.KeyFingerprint == owner.KeyFingerprint
	case owner.CertFingerprint != "":
		return id.CertFingerprint == owner.CertFingerprint
	}
	return owner.Address != "" && id.Address == owner.Address
}

// LogValue logs the identity as a group of the fields that are set.
func (id Identity) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, 4)
	attrs = append(attrs, slog.String("transport", id.Transport.String()))
	for _, f := range []struct{ key, value string }{
		{"address", id.Address}, {"key_fingerprint", id.KeyFingerprint}, {"cert_fingerprint", id.CertFingerprint},
	} {
		if f.value != "" {
			attrs = append(attrs, slog.String(f.key, f.value))
		}
	}
	return slog.GroupValue(attrs...)
}

// maxHeldPerOwner bounds the nicknames held for one owner (one key or one
// address), so that a client churning through connections or SSH sessions
// cannot push other owners' holds out.
const maxHeldPerOwner = 3

// heldNicks are nicknames kept for members who left involuntarily, until a
// deadline. Every hold lasts equally long, so order, oldest first, is also
// the order in which they expire. It is MemoryNicks' record of holds, and
// is guarded by MemoryNicks.mu.
type heldNicks struct {
	byKey   map[string]heldNick // by nickKey
	byOwner map[string]int      // live holds per Identity.owner
	order   []heldRef           // oldest first; refs of ended holds are skipped
	limit   int                 // most holds at once
	seq     uint64              // of the last hold
}

type heldNick struct {
	owner Identity
	until time.Time
	seq   uint64
}

type heldRef struct {
	key string
	seq uint64
}

func newHeldNicks(limit int) heldNicks {
	return heldNicks{byKey: make(map[string]heldNick), byOwner: make(map[string]int), limit: limit}
}

// hold keeps the nickname with key for owner for grace from now, if the
// owner can be recognised at all. An owner already holding
// maxHeldPerOwner nicknames gives up its oldest; beyond the limit, the
// oldest hold of all ends.
func (h *heldNicks) hold(key string, owner Identity, now time.Time, grace time.Duration) {
	if owner.owner() == "" {
		return // nobody could ever claim it back
	}
	h.expire(now)
	h.release(key)
	if h.byOwner[owner.owner()] >= maxHeldPerOwner {
		h.releaseOldest(owner.owner())
	}
	if len(h.byKey) >= h.limit {
		h.releaseOldest("")
	}
	h.seq++
	h.byKey[key] = heldNick{owner: owner, until: now.Add(grace), seq: h.seq}
	h.byOwner[owner.owner()]++
	h.order = append(h.order, heldRef{key: key, seq: h.seq})
	h.compact()
}

// live reports whether ref still names a hold.
func (h *heldNicks) live(ref heldRef) bool {
	held, ok := h.byKey[ref.key]
	return ok && held.seq == ref.seq
}

// expire ends the holds that have run out by now.
func (h *heldNicks) expire(now time.Time) {
	n := 0
	for ; n < len(h.order); n++ {
		ref := h.order[n]
		if h.live(ref) {
			if now.Before(h.byKey[ref.key].until) {
				break
			}
			h.release(ref.key)
		}
	}
	h.order = h.order[n:]
}

// releaseOldest ends the oldest hold of owner, or of anyone if owner is "".
func (h *heldNicks) releaseOldest(owner string) {
	for _, ref := range h.order {
		if h.live(ref) && (owner == "" || h.byKey[ref.key].owner.owner() == owner) {
			h.release(ref.key)
			return
		}
	}
}

// compact drops the refs of ended holds once they outnumber the live ones,
// so order stays within twice the limit.
func (h *heldNicks) compact() {
	if len(h.order) <= 2*len(h.byKey)+16 {
		return
	}
	live := h.order[:0]
	for _, ref := range h.order {
		if h.live(ref) {
			live = append(live, ref)
		}
	}
	clear(h.order[len(live):])
	h.order = live
}

// release ends the hold on key, if any.
func (h *heldNicks) release(key string) {
	held, ok := h.byKey[key]
	if !ok {
		return
	}
	delete(h.byKey, key)
	if owner := held.owner.owner(); h.byOwner[owner] <= 1 {
		delete(h.byOwner, owner)
	} else {
		h.byOwner[owner]--
	}
}

// heldFor returns the hold on key if it has not ended by now.
func (h *heldNicks) heldFor(key string, now time.Time) (heldNick, bool) {
	held, ok := h.byKey[key]
	return held, ok && now.Before(held.until)
}

// nickFree returns nil if the member self (nil for a joiner) with identity
// id may take nick: no one else has it, or a look-alike of it, and it is
// not held for someone else. Otherwise the error wraps ErrNickTaken. It
// reads the local index and the room's view of the nickname store (see
// nickOwner), never waiting on the store. The caller holds r.mu.
func (r *Room) nickFree(nick string, id Identity, self *Member) error {
	key := nickKey(nick)
	if other, taken := r.byNick[key]; taken && other != self {
		return errNickInUse(nick)
	}
	owner, ok := r.nickOwner(nick, key)
	switch {
	case !ok:
		return nil
	case !owner.held():
		if self != nil && owner.Claim.Member == self.no {
			return nil
		}
		if owner.Claim.Member == 0 && id.owns(owner.Claim.Identity) {
			return nil // its own identity's, on another node: the store decides (Nicks.Claim)
		}
		return errNickInUse(nick) // an arriving member, or one elsewhere
	case !id.owns(owner.Claim.Identity):
		return errNickHeld(nick, owner.HeldUntil.Sub(r.cfg.Now()))
	}
	return nil
}

// heldView is how the room's helpers reach the holds on nicknames, which
// live in the nickname store (Config.Nicks).
type heldView struct{}

// release ends the hold on the nickname with key, as a member takes it.
// The store's claim of the nickname for that member (a join's or a
// rename's) ended the hold in the store (see Nicks.Claim), so nothing is
// left to do here.
func (heldView) release(key string) {}
