package main

import (
	"path/filepath"
	"strings"
	"testing"

	"chatd/internal/testproc"
	"chatd/tlsgw"
)

// weakCiphers lets openssl offer what its default security level refuses:
// TLS 1.0 and 1.1 need @SECLEVEL=0 with Debian's OpenSSL 3.
const weakCiphers = "DEFAULT:@SECLEVEL=0"

// A probe is one openssl s_client handshake and what each profile must
// make of it: the protocol and suite it ends with, or "" for a refusal.
type probe struct {
	name string
	args []string
	want map[tlsgw.Profile]string // "TLSv1.2 ECDHE-ECDSA-AES128-SHA"
}

var profileProbes = []probe{
	{"TLS 1.0", []string{"-tls1", "-cipher", weakCiphers},
		map[tlsgw.Profile]string{tlsgw.ProfileOld: "TLSv1 ECDHE-ECDSA-AES128-SHA"}},
	{"TLS 1.1", []string{"-tls1_1", "-cipher", weakCiphers},
		map[tlsgw.Profile]string{tlsgw.ProfileOld: "TLSv1.1 ECDHE-ECDSA-AES128-SHA"}},
	{"TLS 1.2", []string{"-tls1_2"}, map[tlsgw.Profile]string{
		tlsgw.ProfileOld: "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256", tlsgw.ProfileIntermediate: "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256"}},
	{"TLS 1.2 CBC", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0"},
		map[tlsgw.Profile]string{tlsgw.ProfileOld: "TLSv1.2 ECDHE-ECDSA-AES256-SHA"}},
	{"TLS 1.3", []string{"-tls1_3"}, map[tlsgw.Profile]string{
		tlsgw.ProfileOld: "TLSv1.3 TLS_AES_128_GCM_SHA256", tlsgw.ProfileIntermediate: "TLSv1.3 TLS_AES_128_GCM_SHA256",
		tlsgw.ProfileModern: "TLSv1.3 TLS_AES_128_GCM_SHA256"}},
}

// TestTLSProfilesWithOpenSSL starts chatd with each --tls-profile and checks
// with the real openssl s_client, verifying the certificate, which
// protocols and suites it accepts and which it refuses.
func TestTLSProfilesWithOpenSSL(t *testing.T) {
	requireOpenSSL(t)
	for _, profile := range []tlsgw.Profile{tlsgw.ProfileModern, tlsgw.ProfileIntermediate, tlsgw.ProfileOld} {
		t.Run(profile.String(), func(t *testing.T) {
			t.Parallel()
			s := startChatd(t, filepath.Join(t.TempDir(), "data"), "--tls-profile", profile.String())
			for _, p := range profileProbes {
				got := handshake(t, s, p.name, p.args...)
				if want := p.want[profile]; got != want {
					t.Errorf("%s: openssl got %q, want %q (empty: refused)", p.name, got, want)
				}
			}
		})
	}
}

// handshake runs one openssl s_client handshake with chatd, verifying its
// certificate, and returns the protocol and suite it agreed on, or "" if
// it failed.
func handshake(t *testing.T, s *testproc.Chatd, name string, args ...string) string {
	t.Helper()
	argv := append([]string{"openssl", "s_client", "-brief", "-verify_return_error", "-verify_hostname", "localhost",
		"-servername", "localhost", "-connect", s.Addr(), "-CAfile", s.CertFile}, args...)
	p := testproc.Start(t, "openssl "+name, nil, argv...)
	p.CloseInput()
	if p.WaitExit() != 0 {
		return ""
	}
	version := field(p.Expect("Protocol version: "), "Protocol version: ")
	suite := field(p.Expect("Ciphersuite: "), "Ciphersuite: ")
	return version + " " + suite
}

// field returns what follows label on line.
func field(line, label string) string {
	_, after, _ := strings.Cut(line, label)
	return strings.TrimSpace(after)
}

// TestOldTLSProfileIsLoud checks that chatd says the old profile is on
// wherever someone looks: the banner, a WARN record, the connection logs
// and the greeting of a member, here one on TLS 1.0.
func TestOldTLSProfileIsLoud(t *testing.T) {
	requireOpenSSL(t)
	s := startChatd(t, filepath.Join(t.TempDir(), "data"), "--tls-profile", "old")
	s.Expect(tlsgw.WeakWarning)
	s.Expect("Harden with --tls-profile intermediate")
	if rec := s.Process.Expect("level=WARN"); !strings.Contains(rec, "weak TLS profile on purpose") || !strings.Contains(rec, "tls_profile=old") {
		t.Errorf("start-up warning %q", rec)
	}
	alice := testproc.Start(t, "alice", nil, append(s.ConnectCmd, "-tls1", "-cipher", weakCiphers)...)
	alice.Expect("*** Welcome to chatd. You are connected with TLS 1.0, TLS_ECDHE_ECDSA_WITH_AES_")
	alice.Expect("*** " + tlsgw.WeakWarning)
	alice.Expect("*** Choose a nickname")
	alice.Send("alice")
	alice.Expect("*** alice joined")
	if rec := s.Expect(`msg=joined`); !strings.Contains(rec, "tls_profile=old") || !strings.Contains(rec, `tls_version="TLS 1.0"`) {
		t.Errorf("connection log %q", rec)
	}

	j := startChatd(t, filepath.Join(t.TempDir(), "data"), "--tls-profile", "old", "--log-format", "json")
	if rec := j.Record(`"msg":"weak TLS profile on purpose`); rec["level"] != "WARN" || rec["tls_profile"] != "old" {
		t.Errorf("JSON start-up warning %v", rec)
	}
}

// TestDefaultTLSProfileIsIntermediateAndQuiet checks that without
// --tls-profile chatd serves intermediate and warns about nothing.
func TestDefaultTLSProfileIsIntermediateAndQuiet(t *testing.T) {
	s := startChatd(t, filepath.Join(t.TempDir(), "data"), "--log-format", "json")
	bob := s.JoinWithOpenSSL(t, "bob")
	bob.Send("/quit")
	s.Expect(`"msg":"connection closed"`)
	for line := range strings.Lines(s.Output()) {
		listening := strings.Contains(line, `"msg":"TLS listening"`)
		if listening && !strings.Contains(line, `"tls_profile":"intermediate"`) ||
			!listening && strings.Contains(line, "tls_profile") || strings.Contains(line, `"level":"WARN"`) {
			t.Errorf("the default profile was not quiet: %s", line)
		}
	}
}
