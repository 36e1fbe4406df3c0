// Package access decides who is who in the room, who may come in, and who
// governs it: accounts (nicknames bound to credentials: SSH keys and TLS
// client certificates, by fingerprint), the access policy (open,
// registered, allowlist), owners and operators, bans, mutes and the
// message of the day. Its records live in a Backend: in memory, or in
// JetStream key-value buckets (internal/jetkv), so that they survive
// restarts.
//
// The room knows none of this: a Directory answers the room's seams
// (room.Policy, room.Nicks, room.Config.Greeting), registers the room's
// identity and moderation commands, and answers the gateways at the door
// (Door) and over SSH exec (Console).
package access

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"chatd/certs"
	"chatd/room"
)

// CredentialKind says what a credential is.
type CredentialKind uint8

const (
	// SSHKey is an SSH public key, by its SHA-256 fingerprint as OpenSSH
	// prints it: "SHA256:" and unpadded base64.
	SSHKey CredentialKind = iota + 1
	// TLSCert is a TLS client certificate, by the SHA-256 fingerprint of
	// its DER bytes, as certs.Fingerprint prints it: upper-case hex pairs
	// joined by colons.
	TLSCert
)

// String names the kind as /whois shows it.
func (k CredentialKind) String() string {
	switch k {
	case SSHKey:
		return "ssh-key"
	case TLSCert:
		return "tls-cert"
	}
	return "unknown"
}

// Credential is what a connection proves it holds: an SSH key or a TLS
// client certificate, by fingerprint. Credentials are bound, not
// chained: a self-signed certificate is as good as any.
type Credential struct {
	Kind        CredentialKind
	Fingerprint string // canonical: see SSHKey and TLSCert
}

// String is the credential as /whois and the allowlist file write it:
// "SHA256:..." for a key, "sha256:AB:CD:..." for a certificate.
func (c Credential) String() string {
	if c.Kind == TLSCert {
		return "sha256:" + c.Fingerprint
	}
	return c.Fingerprint
}

// CredentialsOf returns the credentials a connection presented, as its
// gateway told the room: its SSH key and its TLS client certificate, if
// any.
func CredentialsOf(id room.Identity) []Credential {
	var out []Credential
	if id.KeyFingerprint != "" {
		out = append(out, Credential{Kind: SSHKey, Fingerprint: id.KeyFingerprint})
	}
	if id.CertFingerprint != "" {
		out = append(out, Credential{Kind: TLSCert, Fingerprint: id.CertFingerprint})
	}
	return out
}

// ErrBadCredential is wrapped by ParseCredential's errors.
var ErrBadCredential = errors.New("not a credential")

// maxCredentialLine bounds a line ParseCredential reads.
const maxCredentialLine = 16 << 10

// ParseCredential reads one credential as an operator writes it, in the
// allowlist and admins files and in /allow and /ban fp=:
//   - an authorized_keys line ("ssh-ed25519 AAAA... comment", options
//     before the key type are not accepted);
//   - an SSH key fingerprint, "SHA256:" and unpadded base64;
//   - a certificate fingerprint, "sha256:" and 64 hex digits, with or
//     without colons, in either case.
func ParseCredential(s string) (Credential, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxCredentialLine {
		return Credential{}, fmt.Errorf("%w: a line of %d bytes", ErrBadCredential, len(s))
	}
	if rest, ok := strings.CutPrefix(s, "SHA256:"); ok {
		raw, err := base64.RawStdEncoding.DecodeString(rest)
		if err != nil || len(raw) != 32 {
			return Credential{}, fmt.Errorf("%w: %q is not an SSH key fingerprint (SHA256: and 43 base64 characters, as ssh-keygen -lf prints it)", ErrBadCredential, cut(s))
		}
		return Credential{Kind: SSHKey, Fingerprint: s}, nil
	}
	if len(s) > 7 && strings.EqualFold(s[:7], "sha256:") {
		raw, err := hex.DecodeString(strings.ReplaceAll(s[7:], ":", ""))
		if err != nil || len(raw) != 32 {
			return Credential{}, fmt.Errorf("%w: %q is not a certificate fingerprint (sha256: and 64 hex digits, as openssl x509 -noout -fingerprint -sha256 prints them)", ErrBadCredential, cut(s))
		}
		return Credential{Kind: TLSCert, Fingerprint: certs.FormatFingerprint([32]byte(raw))}, nil
	}
	key, _, _, rest, err := gossh.ParseAuthorizedKey([]byte(s))
	if err != nil || len(strings.TrimSpace(string(rest))) > 0 {
		return Credential{}, fmt.Errorf("%w: %q is neither an authorized_keys line nor a SHA256:/sha256: fingerprint", ErrBadCredential, cut(s))
	}
	return Credential{Kind: SSHKey, Fingerprint: gossh.FingerprintSHA256(key)}, nil
}

// cut shortens s for an error message.
func cut(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// RefusalKind says why a connection is turned away at the door.
type RefusalKind uint8

const (
	// RefusedByPolicy: the access policy does not let the connection's
	// credentials in (registered, allowlist). Over SSH it fails the
	// authentication itself.
	RefusedByPolicy RefusalKind = iota + 1
	// RefusedBanned: an operator banned the connection's nickname,
	// credential or address.
	RefusedBanned
)

// Refusal is why a connection may not join: its error text is what the
// connection is told, and says what to do about it where anything can be
// done.
type Refusal struct {
	Kind RefusalKind
	// Reason is the operator's reason for a ban ("" if none given).
	Reason string
	// Until is when a timed ban ends; zero for a ban until lifted and for
	// a policy refusal.
	Until time.Time
	// Text is the whole message for the connection.
	Text string
	// FailAuth asks an SSH gateway to fail the authentication itself,
	// telling nothing (the allowlist policy: a key not on the list does
	// not even authenticate). Otherwise the connection authenticates and
	// is told Text, then closed; a TLS gateway always tells Text (as a
	// room.Bye with room.ReasonRefused and Text as Detail).
	FailAuth bool
}

func (r *Refusal) Error() string { return r.Text }

// Door is what a gateway asks before a connection joins: whether the
// holder of id, from its address, may come in now. It answers from
// memory and never blocks; a refusal is a *Refusal.
type Door interface {
	Admit(id room.Identity) error
}

// Console runs the admin commands of SSH exec ("ssh -p 2222 HOST ban
// mallory 1h spam"): args are the command's words.
//
// Who may: only owners and operators, by the key they authenticated
// with (id); anyone else gets an error wrapping ErrPermissionDenied.
//
// Unknown commands: a first word that names none of its commands is an
// error wrapping ErrUnknownCommand, whoever asks, so that the gateway
// answers it as any unknown command.
//
// Answers: out's lines; err, if not nil, is a refusal or a usage error
// worded for the person who typed the command.
type Console interface {
	Run(ctx context.Context, id room.Identity, args []string) (out []string, err error)
}

// ErrTooManyClaims is wrapped (with room.ErrNickTaken) by the refusal of
// a registered nickname to an address that has tried too many of them
// lately: its gateway closes the connection rather than ask again.
var ErrTooManyClaims = errors.New("too many tries for registered nicknames")

// ErrUnknownCommand is wrapped by Console.Run's error for a command it
// does not have.
var ErrUnknownCommand = errors.New("no such admin command")

// ErrPermissionDenied is wrapped by the errors of commands that the
// caller may not run.
var ErrPermissionDenied = errors.New("permission denied")

// Relay carries what an operator does on one node to the other nodes of
// the room, where the Backend cannot (cluster.Node implements it).
type Relay interface {
	// Kick asks every other node to remove its members called nick
	// (compared by room.NickKey) for reason.
	Kick(ctx context.Context, nick string, reason room.Reason) error
}
