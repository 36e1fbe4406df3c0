package cluster

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
)

// This file is what the nodes store for each other in the buckets, and
// how a node checks what another stored: every record is hostile input
// (another node may be buggy, old or forged), so each is bounded in size
// and checked field by field before it is believed.

// recordVersion is the version of the records this package writes; a
// record of another version is skipped.
const recordVersion = 1

// Bounds on what the nodes store.
const (
	// MaxNodes bounds the nodes a node keeps track of (and, with the size
	// of a record, the memory their records take).
	MaxNodes = 100
	// MaxRecords bounds the nickname records a node keeps (and so the
	// nicknames the room can have at once, held ones included).
	MaxRecords = 100_000
	// maxNickRecord bounds a nickname record's encoding.
	maxNickRecord = 2048
	// maxNickBytes bounds a claimed nickname in a record (the room
	// validates nicknames before it claims them; this only bounds).
	maxNickBytes = 4 * room.MaxNickLen
	// maxIncarnation bounds an incarnation's length.
	maxIncarnation = 32
	// maxField bounds an identity's fields (an address, a fingerprint).
	maxField = 128
)

// presence is a node's presence record, in the nodes bucket under the
// node's name.
type presence struct {
	Version     int       `json:"version"`
	Node        string    `json:"node"`
	Incarnation string    `json:"incarnation"`
	Started     time.Time `json:"started"`
	// Count is how many members the node has; Members lists at most
	// room.MaxPeers of them, fewer if the record would not fit in a NATS
	// message.
	Count     int         `json:"count"`
	Members   []rosterRow `json:"members"`
	Heartbeat time.Time   `json:"heartbeat"`
}

// rosterRow is one member in a presence record.
type rosterRow struct {
	Nick      string         `json:"nick"`
	Transport room.Transport `json:"transport"`
	Joined    time.Time      `json:"joined"`
	Identity  identityJSON   `json:"identity"`
}

// nickRecord is a claim of a nickname, in the nicknames bucket under
// nickKVKey of the nickname.
type nickRecord struct {
	Version     int          `json:"version"`
	Nick        string       `json:"nick"`
	Node        string       `json:"node"`
	Incarnation string       `json:"incarnation"`
	Member      uint64       `json:"member"`
	Identity    identityJSON `json:"identity"`
	// HeldUntil is zero while the member has the nickname; once it left
	// involuntarily, the nickname is held for Identity until then.
	HeldUntil time.Time `json:"held_until,omitzero"`
}

// held reports whether the record holds the nickname for an identity
// rather than giving it to a member.
func (r *nickRecord) held() bool { return !r.HeldUntil.IsZero() }

// identityJSON is a room.Identity as stored.
type identityJSON struct {
	Transport room.Transport `json:"transport"`
	Address   string         `json:"address,omitempty"`
	Key       string         `json:"key,omitempty"`
	Cert      string         `json:"cert,omitempty"`
}

func storedIdentity(id room.Identity) identityJSON {
	return identityJSON{Transport: id.Transport, Address: id.Address, Key: id.KeyFingerprint, Cert: id.CertFingerprint}
}

// rosterIdentity is a member's identity as its node's record lists it:
// without the fields too long to list (another node would refuse the
// whole record).
func rosterIdentity(id room.Identity) identityJSON {
	s := storedIdentity(id)
	if len(s.Address) > maxField {
		s.Address = ""
	}
	if len(s.Key) > maxField {
		s.Key = ""
	}
	if len(s.Cert) > maxField {
		s.Cert = ""
	}
	return s
}

func (id identityJSON) identity() room.Identity {
	return room.Identity{Transport: id.Transport, Address: id.Address, KeyFingerprint: id.Key, CertFingerprint: id.Cert}
}

func (id identityJSON) valid() bool {
	return id.Transport <= room.TransportSSH && len(id.Address) <= maxField && len(id.Key) <= maxField && len(id.Cert) <= maxField
}

// owns reports whether id may have back a nickname held for owner: the
// room's rule (room.Identity's owns, unexported): the same SSH key if the
// owner had one, else the same certificate, else the same address. An
// identity with none of them owns nothing.
func owns(id, owner room.Identity) bool {
	switch {
	case owner.KeyFingerprint != "":
		return id.KeyFingerprint == owner.KeyFingerprint
	case owner.CertFingerprint != "":
		return id.CertFingerprint == owner.CertFingerprint
	}
	return owner.Address != "" && id.Address == owner.Address
}

// recognisable reports whether an identity could ever own a hold.
func recognisable(id room.Identity) bool {
	return id.KeyFingerprint != "" || id.CertFingerprint != "" || id.Address != ""
}

// nickKVKey is the bucket key of nick: its room.NickKey (so that
// look-alikes share one key) in unpadded base64url, which a key allows.
func nickKVKey(nick string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(room.NickKey(nick)))
}

// validNode reports whether name may name a node: 1 to 32 of A-Z a-z
// 0-9 _ -.
func validNode(name string) bool {
	if len(name) < 1 || len(name) > 32 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validIncarnation reports whether s may be an incarnation: a node's own
// are 16 lowercase hex digits; another's must at least be a short token.
func validIncarnation(s string) bool { return len(s) <= maxIncarnation && validNode(s) }

// decodePresence decodes and checks the presence record stored under key,
// reporting false if it is not one to believe.
func decodePresence(key string, data []byte, maxSize int) (*presence, bool) {
	if len(data) > maxSize {
		return nil, false
	}
	var p presence
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, false
	}
	if p.Version != recordVersion || p.Node != key || !validNode(p.Node) || !validIncarnation(p.Incarnation) ||
		len(p.Members) > room.MaxPeers || p.Count < len(p.Members) || p.Count > room.MaxPeers {
		return nil, false
	}
	for _, m := range p.Members {
		if room.ValidateNick(m.Nick) != nil || m.Transport > room.TransportSSH || !m.Identity.valid() {
			return nil, false
		}
	}
	return &p, true
}

// holdSlack is how far past its stored time plus MaxHold a hold may
// run, for the clocks of the nodes and the server that differ a little.
const holdSlack = 5 * time.Second

// decodeNickEntry decodes and checks the nickname record e: a hold ends
// at the latest MaxHold plus holdSlack after the server stored it
// (a node's clock ahead, or a forged record, holds no longer).
func (n *Node) decodeNickEntry(e jetstream.KeyValueEntry) (*nickRecord, bool) {
	r, ok := decodeNick(e.Key(), e.Value())
	if ok && r.held() {
		if last := e.Created().Add(n.o.MaxHold + holdSlack); r.HeldUntil.After(last) {
			r.HeldUntil = last
		}
	}
	return r, ok
}

// decodeNick decodes and checks the nickname record stored under key.
func decodeNick(key string, data []byte) (*nickRecord, bool) {
	if len(data) > maxNickRecord {
		return nil, false
	}
	var r nickRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, false
	}
	if r.Version != recordVersion || r.Nick == "" || len(r.Nick) > maxNickBytes || nickKVKey(r.Nick) != key ||
		!validNode(r.Node) || !validIncarnation(r.Incarnation) || r.Member == 0 || !r.Identity.valid() {
		return nil, false
	}
	return &r, true
}
