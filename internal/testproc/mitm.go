package testproc

import (
	"regexp"
	"strings"
	"testing"
)

// Mitm is a running `chatd mitm` and what it printed at start.
type Mitm struct {
	*Process
	Port                string // the port it listens on, on 127.0.0.1
	UpstreamFingerprint string // the real server's certificate's SHA-256 fingerprint
	Fingerprint         string // the proxy's own
}

var mitmListeningRE = regexp.MustCompile(`^Listening on 127\.0\.0\.1:(\d+), relaying to `)

// StartMitm starts `chatd mitm` (binary is chatd) in front of upstream
// (HOST:PORT), listening on listen (127.0.0.1:0 if empty), and reads its
// banner.
func StartMitm(t testing.TB, binary, upstream, listen string, args ...string) *Mitm {
	t.Helper()
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	argv := append([]string{binary, "mitm", "--listen", listen, "--upstream", upstream}, args...)
	m := &Mitm{Process: Start(t, "chatd mitm", nil, argv...)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chatd mitm printed:\n%s", m.Output())
		}
	})
	m.Expect("DELIBERATE TLS INTERCEPTION PROXY")
	m.Port = mitmListeningRE.FindStringSubmatch(strings.TrimSpace(m.Expect("Listening on ")))[1]
	m.UpstreamFingerprint = afterLabel(m.Expect("upstream's certificate (the real server): SHA-256 "), "SHA-256 ")
	m.Fingerprint = afterLabel(m.Expect("proxy's certificate ("), "SHA-256 ")
	m.Expect("Try: openssl s_client")
	return m
}

// Addr is the address clients dial to be intercepted: localhost and the
// proxy's port.
func (m *Mitm) Addr() string { return "localhost:" + m.Port }

// afterLabel returns what follows the last label on line.
func afterLabel(line, label string) string {
	return strings.TrimSpace(line[strings.LastIndex(line, label)+len(label):])
}
