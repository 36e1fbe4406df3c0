package tlsgw

import (
	"bufio"
	"crypto/tls"
	"encoding"
	"slices"
	"strings"
	"testing"
	"time"

	"chatd/certs"
)

var (
	_ encoding.TextMarshaler   = ProfileIntermediate
	_ encoding.TextUnmarshaler = (*Profile)(nil)
)

func TestProfileNamesRoundTrip(t *testing.T) {
	for _, p := range []Profile{ProfileModern, ProfileIntermediate, ProfileOld} {
		text, err := p.MarshalText()
		if err != nil {
			t.Fatalf("%v: %v", p, err)
		}
		var got Profile
		if err := got.UnmarshalText(text); err != nil || got != p {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", text, got, err, p)
		}
	}
	var p Profile
	if err := p.UnmarshalText([]byte("Old")); err == nil {
		t.Error(`"Old" was accepted: names are exact`)
	}
	if _, err := Profile(9).MarshalText(); err == nil {
		t.Error("an unknown profile has a name")
	}
	if Profile(0) != ProfileIntermediate {
		t.Error("the zero Profile is not the default, intermediate")
	}
}

// TestIntermediateIsTheFormerConfig pins the default profile to the
// configuration chatd served before profiles existed.
func TestIntermediateIsTheFormerConfig(t *testing.T) {
	cfg := ServerConfig(certs.NewStore(nil), ProfileIntermediate)
	want := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
	if cfg.MinVersion != tls.VersionTLS12 || cfg.MaxVersion != 0 || !slices.Equal(cfg.CipherSuites, want) ||
		cfg.CurvePreferences != nil || cfg.ClientAuth != tls.RequestClientCert || cfg.VerifyConnection == nil {
		t.Errorf("intermediate config: min %x max %x suites %x curves %v auth %v", cfg.MinVersion, cfg.MaxVersion, cfg.CipherSuites, cfg.CurvePreferences, cfg.ClientAuth)
	}
	if modern := ServerConfig(certs.NewStore(nil), ProfileModern); modern.MinVersion != tls.VersionTLS13 {
		t.Errorf("modern allows %s", tls.VersionName(modern.MinVersion))
	}
	old := ServerConfig(certs.NewStore(nil), ProfileOld)
	if old.MinVersion != tls.VersionTLS10 || !slices.Contains(old.CipherSuites, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA) {
		t.Errorf("old: min %s, suites %x", tls.VersionName(old.MinVersion), old.CipherSuites)
	}
}

// TestOldProfileWarnsEachMember connects with TLS 1.0, which only the old
// profile allows, and finds the warning between the welcome and the prompt.
func TestOldProfileWarnsEachMember(t *testing.T) {
	ts := startServer(t, Config{Profile: ProfileOld})
	conn, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: ts.roots, ServerName: "localhost",
		MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10})
	if err != nil {
		t.Fatalf("TLS 1.0 to the old profile: %v", err)
	}
	defer conn.Close()
	lines := firstLines(t, conn, 3)
	if !strings.Contains(lines[0], "TLS 1.0, TLS_ECDHE_ECDSA_WITH_AES_") || lines[1] != "*** "+WeakWarning || !strings.Contains(lines[2], "Choose a nickname") {
		t.Errorf("greeting %q", lines)
	}
}

// TestDefaultProfileRefusesTLS10 is the other side: the default profile
// refuses TLS 1.0, and its greeting has no warning.
func TestDefaultProfileRefusesTLS10(t *testing.T) {
	ts := startServer(t, Config{})
	if conn, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: ts.roots, ServerName: "localhost",
		MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
		conn.Close()
		t.Fatal("intermediate accepted TLS 1.1")
	}
	conn, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: ts.roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if lines := firstLines(t, conn, 2); !strings.Contains(lines[0], "Welcome") || !strings.Contains(lines[1], "Choose a nickname") {
		t.Errorf("greeting %q", lines)
	}
}

// firstLines reads the first n lines the server sends on conn.
func firstLines(t *testing.T, conn *tls.Conn, n int) []string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(waitTime))
	r := bufio.NewReader(conn)
	var lines []string
	for range n {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", lines, err)
		}
		lines = append(lines, strings.TrimSpace(line))
	}
	return lines
}
