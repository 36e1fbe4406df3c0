package access

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"chatd/room"
)

// recordVersion is the version of the stored records' JSON this package
// writes and reads; a record of another version is skipped.
const recordVersion = 1

// Bounds of the stored records' fields.
const (
	// MaxCredentials bounds the credentials of one account.
	MaxCredentials = 8
	// MaxReasonBytes bounds an operator's reason.
	MaxReasonBytes = 200
	// MaxMOTDBytes bounds the message of the day.
	MaxMOTDBytes = 400
	// maxByBytes bounds the name of who did something.
	maxByBytes = 128
)

// errBadRecord is wrapped by the errors of stored records that fail their
// checks.
var errBadRecord = errors.New("bad record")

// accountRecord is an account: a nickname bound to credentials.
type accountRecord struct {
	V     int       `json:"v"`
	Nick  string    `json:"nick"`
	Creds []string  `json:"creds"`
	Since time.Time `json:"since"`
}

// roleRecord names an operator made with /op.
type roleRecord struct {
	V     int       `json:"v"`
	Nick  string    `json:"nick"`
	By    string    `json:"by"`
	Since time.Time `json:"since"`
}

// allowRecord is an allowlisted credential, or, if Off, one /disallow
// took off the allowlist: a tombstone, so that seeding from the
// allowlist file at the next start does not put it back.
type allowRecord struct {
	V     int       `json:"v"`
	Cred  string    `json:"cred"`
	By    string    `json:"by"`
	Since time.Time `json:"since"`
	Off   bool      `json:"off,omitempty"`
}

// banRecord is a ban of a credential ("fp:" key) or an address prefix
// ("ip:" key).
type banRecord struct {
	V      int    `json:"v"`
	Target string `json:"target"` // the credential or the prefix, as typed back
	Nick   string `json:"nick,omitempty"`
	By     string `json:"by"`
	// ByRank is the author's rank, "operator" or "owner": an address ban
	// does not hold anyone of that rank or above. "" (records from
	// before it was kept) counts as "owner".
	ByRank string    `json:"by_rank,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until,omitzero"`
}

// authorRank is the rank of the ban's author; records from before it was
// kept count as an owner's.
func (r banRecord) authorRank() rank {
	return authorRankOf(r.ByRank)
}

// authorRankOf reads a stored author's rank: "operator" is an
// operator's; anything else, missing or hostile, an owner's.
func authorRankOf(s string) rank {
	if s == rankOperator.String() {
		return rankOperator
	}
	return rankOwner
}

// muteRecord is a muted nickname and the credentials it had.
type muteRecord struct {
	V     int      `json:"v"`
	Nick  string   `json:"nick"`
	Creds []string `json:"creds,omitempty"`
	By    string   `json:"by"`
	// ByRank is the author's rank, as in banRecord: lifting the mute
	// needs at least that rank. "" (records from before it was kept)
	// counts as "owner".
	ByRank string    `json:"by_rank,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until,omitzero"`
}

// authorRank is the rank of the mute's author; records from before it
// was kept count as an owner's.
func (r muteRecord) authorRank() rank {
	return authorRankOf(r.ByRank)
}

// motdRecord is the message of the day.
type motdRecord struct {
	V     int       `json:"v"`
	Text  string    `json:"text"`
	By    string    `json:"by"`
	Since time.Time `json:"since"`
}

// motdKey is the message of the day's key in Settings.
const motdKey = "motd"

// decode reads a stored value into rec, strictly: bounded, one JSON
// object of known fields, of recordVersion.
func decode(val []byte, rec any, version func() int) error {
	if len(val) > MaxRecordBytes {
		return fmt.Errorf("%w: %d bytes", errBadRecord, len(val))
	}
	dec := json.NewDecoder(bytes.NewReader(val))
	dec.DisallowUnknownFields()
	if err := dec.Decode(rec); err != nil {
		return fmt.Errorf("%w: %v", errBadRecord, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", errBadRecord)
	}
	if v := version(); v != recordVersion {
		return fmt.Errorf("%w: version %d", errBadRecord, v)
	}
	return nil
}

// encode writes rec as stored.
func encode(rec any) []byte {
	b, err := json.Marshal(rec)
	if err != nil {
		panic(fmt.Sprintf("access: encoding %T: %v", rec, err)) // records hold only strings and times
	}
	return b
}

// checkNick checks a stored nickname and that key is its key.
func checkNick(nick, key string) error {
	if err := room.ValidateNick(nick); err != nil {
		return fmt.Errorf("%w: %v", errBadRecord, err)
	}
	if room.NickKey(nick) != key {
		return fmt.Errorf("%w: stored under %q, not its nickname's key", errBadRecord, cut(key))
	}
	return nil
}

// checkText checks a stored free text: clean, and at most size bytes.
func checkText(s string, size int) error {
	if len(s) > size || room.Clean(s) != s {
		return fmt.Errorf("%w: a text field of %d bytes, or not clean", errBadRecord, len(s))
	}
	return nil
}

// parseCreds reads stored credentials: canonical, distinct, at most max.
func parseCreds(list []string, max int) ([]Credential, error) {
	if len(list) > max {
		return nil, fmt.Errorf("%w: %d credentials", errBadRecord, len(list))
	}
	out := make([]Credential, 0, len(list))
	for _, s := range list {
		c, err := parseStoredCred(s)
		if err != nil {
			return nil, err
		}
		for _, o := range out {
			if o == c {
				return nil, fmt.Errorf("%w: %s twice", errBadRecord, c)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// parseStoredCred reads one stored credential, which must be a
// fingerprint in its canonical form.
func parseStoredCred(s string) (Credential, error) {
	if len(s) > 128 {
		return Credential{}, fmt.Errorf("%w: a credential of %d bytes", errBadRecord, len(s))
	}
	c, err := ParseCredential(s)
	if err != nil || c.String() != s {
		return Credential{}, fmt.Errorf("%w: credential %q", errBadRecord, cut(s))
	}
	return c, nil
}

// credStrings writes credentials as stored.
func credStrings(creds []Credential) []string {
	out := make([]string, len(creds))
	for i, c := range creds {
		out[i] = c.String()
	}
	return out
}

// banTarget is what a ban applies to: a credential or an address prefix.
type banTarget struct {
	Cred   Credential   // set for a credential ban
	Prefix netip.Prefix // valid for an address ban
}

// key is the ban's key in Bans.
func (t banTarget) key() string {
	if t.Prefix.IsValid() {
		return "ip:" + t.Prefix.String()
	}
	return "fp:" + t.Cred.String()
}

// String is the target as /banned shows it and /unban takes it.
func (t banTarget) String() string {
	if t.Prefix.IsValid() {
		return "ip=" + t.Prefix.String()
	}
	return "fp=" + t.Cred.String()
}

// parseBanKey reads a Bans key back.
func parseBanKey(key string) (banTarget, error) {
	if rest, ok := strings.CutPrefix(key, "ip:"); ok {
		p, err := netip.ParsePrefix(rest)
		if err != nil || p != p.Masked() || !p.Addr().Is4() && !p.Addr().Is6() {
			return banTarget{}, fmt.Errorf("%w: ban of %q", errBadRecord, cut(key))
		}
		return banTarget{Prefix: p}, nil
	}
	if rest, ok := strings.CutPrefix(key, "fp:"); ok {
		c, err := parseStoredCred(rest)
		return banTarget{Cred: c}, err
	}
	return banTarget{}, fmt.Errorf("%w: ban key %q", errBadRecord, cut(key))
}

// cleanText cleans s of what room.Clean removes, trims it and cuts it to
// at most size bytes without splitting a character.
func cleanText(s string, size int) string {
	s = strings.TrimSpace(room.Clean(s))
	if len(s) <= size {
		return s
	}
	s = s[:size]
	for len(s) > 0 && !utf8ValidEnd(s) {
		s = s[:len(s)-1]
	}
	return s
}
