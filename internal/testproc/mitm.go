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

	// Set with --ssh-upstream.
	SSHPort                string
	SSHUpstreamFingerprint string // "SHA256:..."
	SSHFingerprint         string
}

var (
	mitmListeningRE    = regexp.MustCompile(`^TLS listening on 127\.0\.0\.1:(\d+), relaying to `)
	mitmSSHListeningRE = regexp.MustCompile(`^SSH listening on 127\.0\.0\.1:(\d+), relaying to `)
)

// StartMitm starts `chatd mitm` (binary is chatd) in front of upstream
// (HOST:PORT; "" for none, when args hold --ssh-upstream), listening on
// listen (127.0.0.1:0 if empty), and reads its banner.
func StartMitm(t testing.TB, binary, upstream, listen string, args ...string) *Mitm {
	t.Helper()
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	argv := append([]string{binary, "mitm", "--listen", listen, "--upstream", upstream, "--ssh-listen", "127.0.0.1:0"}, args...)
	m := &Mitm{Process: Start(t, "chatd mitm", nil, argv...)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chatd mitm printed:\n%s", m.Output())
		}
	})
	m.Expect("DELIBERATE INTERCEPTION PROXY")
	if upstream != "" {
		m.Port = mitmListeningRE.FindStringSubmatch(strings.TrimSpace(m.Expect("TLS listening on ")))[1]
		m.UpstreamFingerprint = afterLabel(m.Expect("upstream's certificate (the real server): SHA-256 "), "SHA-256 ")
		m.Fingerprint = afterLabel(m.Expect("proxy's certificate ("), "SHA-256 ")
		m.Expect("Try: openssl s_client")
	}
	if flagValue(argv, "--ssh-upstream") != "" {
		m.SSHPort = mitmSSHListeningRE.FindStringSubmatch(strings.TrimSpace(m.Expect("SSH listening on ")))[1]
		m.SSHUpstreamFingerprint = afterLabel(m.Expect("upstream's host key (the real server): "), ": ")
		m.SSHFingerprint = afterLabel(m.Expect("proxy's host key ("), ": ")
		m.Expect("Try: ssh")
	}
	return m
}

// Addr is the address clients dial to be intercepted: localhost and the
// proxy's port.
func (m *Mitm) Addr() string { return "localhost:" + m.Port }

// afterLabel returns what follows the last label on line.
func afterLabel(line, label string) string {
	return strings.TrimSpace(line[strings.LastIndex(line, label)+len(label):])
}
