package tlsgw

import (
	"crypto/tls"
	"fmt"
)

// Profile is one of Mozilla's three server-side TLS configurations
// (https://wiki.mozilla.org/Security/Server_Side_TLS), as far as Go
// implements them. The zero value is ProfileIntermediate, chatd's default.
type Profile uint8

// The profiles, from the default to the weakest.
const (
	// ProfileIntermediate is TLS 1.2 and 1.3, with TLS 1.2 limited to
	// ECDHE key exchange and AEAD suites: safe for every client of the last
	// decade.
	ProfileIntermediate Profile = iota
	// ProfileModern is TLS 1.3 only.
	ProfileModern
	// ProfileOld adds TLS 1.0 and 1.1 and the CBC suites (with an RSA
	// certificate also RSA key exchange and 3DES), on purpose, for hardening
	// exercises. It is never safe in production, and chatd says so
	// everywhere while it is on.
	ProfileOld
)

var profileNames = [...]string{ProfileIntermediate: "intermediate", ProfileModern: "modern", ProfileOld: "old"}

// String returns the profile's name as --tls-profile takes it.
func (p Profile) String() string {
	if int(p) < len(profileNames) {
		return profileNames[p]
	}
	return fmt.Sprintf("Profile(%d)", uint8(p))
}

// MarshalText returns the profile's name.
func (p Profile) MarshalText() ([]byte, error) {
	if int(p) >= len(profileNames) {
		return nil, fmt.Errorf("unknown TLS profile %d", uint8(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText sets p from its name: modern, intermediate or old.
func (p *Profile) UnmarshalText(text []byte) error {
	for i, name := range profileNames {
		if string(text) == name {
			*p = Profile(i)
			return nil
		}
	}
	return fmt.Errorf("TLS profile must be modern, intermediate or old, not %q", text)
}

// Weak reports whether the profile enables what is known to be broken or
// deprecated (ProfileOld), so that chatd must say so loudly.
func (p Profile) Weak() bool { return p == ProfileOld }

// WeakWarning is what chatd tells the operator and every TLS member while a
// weak profile is on.
const WeakWarning = `WARNING: TLS profile "old": TLS 1.0, TLS 1.1 and CBC cipher suites are enabled on purpose, for a hardening exercise. Never use it for anything real.`

// oldSuites are the TLS 1.0-1.2 suites of Mozilla's "old" profile that Go
// implements, in Mozilla's order (Go orders them itself): the intermediate
// ones, then ECDHE with CBC, then RSA key exchange and 3DES, which only an
// RSA certificate (--cert) can use: chatd's generated certificate is ECDSA.
// Go leaves the RSA key exchange and 3DES suites out of its defaults
// (GODEBUG tlsrsakex, tls3des) but serves them when listed, as here, so no
// GODEBUG setting is needed. Mozilla's DHE and SHA-384 CBC suites are not
// implemented by Go.
var oldSuites = append(append([]uint16(nil), intermediateSuites...),
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
)

// apply sets cfg's versions and suites for the profile.
func (p Profile) apply(cfg *tls.Config) {
	switch p {
	case ProfileModern:
		cfg.MinVersion, cfg.CipherSuites = tls.VersionTLS13, nil // TLS 1.3 suites are not configurable
	case ProfileOld:
		// An explicit MinVersion enables TLS 1.0 on a Go server without
		// GODEBUG tls10server=1, which only changes the default.
		cfg.MinVersion, cfg.CipherSuites = tls.VersionTLS10, oldSuites
	default:
		cfg.MinVersion, cfg.CipherSuites = tls.VersionTLS12, intermediateSuites
	}
}
