package client

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"chatd/tlsgw"
)

// TestTrustKindNamesHowTheServerWasTrusted connects under each policy and
// checks the words the status line and /tls use: never "verified" for a
// certificate no authority signed.
func TestTrustKindNamesHowTheServerWasTrusted(t *testing.T) {
	ts := startServer(t, tlsgw.Config{})
	fp := fingerprintOfPEM(t, ts.certPEM)
	store := &KnownServers{Path: filepath.Join(t.TempDir(), "known")}
	if err := store.Add(ts.addr, fp); err != nil {
		t.Fatal(err)
	}
	empty := &KnownServers{Path: filepath.Join(t.TempDir(), "none")}
	for i, tc := range []struct {
		name    string
		trust   Trust
		kind    TrustKind
		words   string
		explain string
	}{
		{"--insecure", Trust{Insecure: true}, NotVerified, "NOT VERIFIED", "NOT VERIFIED (--insecure)"},
		{"accepted at the prompt in this run", Trust{Known: store, FirstUse: true}, TrustedOnFirstUse, "trusted on first use", "trusted on first use: you accepted this certificate in this session; it is remembered in " + store.Path},
		{"remembered from an earlier run", Trust{Known: store}, Pinned, "pinned", "pinned: the certificate is the one remembered in " + store.Path},
		{"--fingerprint", Trust{Fingerprint: fp}, Pinned, "pinned", "pinned: the certificate is the one whose fingerprint you gave (" + fp + ")"},
		{"--ca", Trust{CAFile: ts.caFile(t)}, VerifiedCA, "verified (CA)", "verified (CA): chain verified against "},
		{"an authority, not remembered", Trust{Known: empty, Roots: ts.roots}, VerifiedCA, "verified (CA)", "verified (CA): chain verified against the system's certificate authorities"},
	} {
		// A nickname of its own per case: the server frees the previous
		// case's only after it has seen that connection close.
		c, err := dialClient(t, ts.addr, fmt.Sprintf("alice%d", i), tc.trust)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		cs := c.ConnectionState()
		if got := tc.trust.Kind(cs); got != tc.kind || got.String() != tc.words {
			t.Errorf("%s: Kind() = %d %q, want %d %q", tc.name, got, got, tc.kind, tc.words)
		}
		if got := tc.trust.Explain(cs); !strings.HasPrefix(got, tc.explain) {
			t.Errorf("%s: Explain() = %q, want it to start %q", tc.name, got, tc.explain)
		}
		c.Close()
	}
	if TrustKind(0) != NotVerified {
		t.Error("the zero TrustKind is not NotVerified: an unset kind would look safe")
	}
}

// TestFingerprintPinsTheCertificate: --fingerprint accepts the server whose
// certificate has it, in the forms people copy, and refuses another loudly.
func TestFingerprintPinsTheCertificate(t *testing.T) {
	ts := startServer(t, tlsgw.Config{})
	fp := fingerprintOfPEM(t, ts.certPEM)
	bare := strings.ToLower(strings.ReplaceAll(fp, ":", ""))
	for _, form := range []string{fp, bare, "SHA256:" + fp, "sha256 Fingerprint=" + fp, "SHA-256 " + strings.ToLower(fp), " " + fp + "\n"} {
		got, err := ParseFingerprint(form)
		if err != nil || got != fp {
			t.Errorf("ParseFingerprint(%q) = %q, %v; want %q", form, got, err, fp)
		}
	}
	for _, bad := range []string{"", "SHA256:", fp[:len(fp)-3], fp + ":00", "SHA256:8rwyAESPeps4hSPeFVxUmnZwXGLWuwykBh8l2k9D1GM", strings.Repeat("zz", 32)} {
		if got, err := ParseFingerprint(bad); err == nil {
			t.Errorf("ParseFingerprint(%q) = %q, want an error", bad, got)
		}
	}
	if _, err := dialClient(t, ts.addr, "alice", Trust{Fingerprint: fp}); err != nil {
		t.Fatalf("the pinned certificate: %v", err)
	}
	other := startServer(t, tlsgw.Config{})
	_, err := dialClient(t, other.addr, "alice", Trust{Fingerprint: fp})
	var changed *CertChangedError
	if !errors.As(err, &changed) || changed.Store != "" {
		t.Fatalf("another certificate: %v, want a CertChangedError of a given fingerprint", err)
	}
	for _, want := range []string{"NOT the one you pinned", fp, fingerprintOfPEM(t, other.certPEM), "man in the middle"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestHandEditedKnownServersEntryIsRead: an entry written by hand, in
// lower case without colons and with the host in capitals, is the same
// pin as the one chat writes; an entry that is not a fingerprint is an
// error that names the file and line, not a change alarm.
func TestHandEditedKnownServersEntryIsRead(t *testing.T) {
	ts := startServer(t, tlsgw.Config{})
	fp := fingerprintOfPEM(t, ts.certPEM)
	host, port, _ := net.SplitHostPort(ts.addr)
	path := filepath.Join(t.TempDir(), "known_servers")
	edited := strings.ToLower(strings.ReplaceAll(fp, ":", ""))
	if err := os.WriteFile(path, []byte("# mine\n"+strings.ToUpper(host)+":"+port+" "+edited+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	store := &KnownServers{Path: path}
	if got, found, err := store.Lookup(ts.addr); err != nil || !found || got != fp {
		t.Errorf("Lookup: %q %v %v, want %s", got, found, err, fp)
	}
	if _, err := dialClient(t, ts.addr, "alice", Trust{Known: store}); err != nil {
		t.Errorf("dial with the hand-edited entry: %v", err)
	}
	if err := os.WriteFile(path, []byte(ts.addr+" not-a-fingerprint\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := dialClient(t, ts.addr, "alice", Trust{Known: store})
	var changed *CertChangedError
	if err == nil || errors.As(err, &changed) || !strings.Contains(err.Error(), path+", line 1") {
		t.Errorf("dial with a broken entry: %v, want an error naming %s, line 1", err, path)
	}
}
