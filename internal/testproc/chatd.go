package testproc

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Chatd is a running chatd and what it printed at start.
type Chatd struct {
	*Process
	DataDir     string
	Port        string   // the TLS port it listens on
	Fingerprint string   // the certificate's SHA-256 fingerprint
	ConnectCmd  []string // the openssl command it printed
	CertFile    string   // the certificate clients should trust

	// Set when SSH is on.
	SSHPort        string
	SSHFingerprint string // "SHA256:..."
	HostKeyFile    string

	// Set when metrics are on: "http://127.0.0.1:1234".
	MetricsURL string
}

var (
	listeningRE    = regexp.MustCompile(`TLS listening on .*:(\d+)`)
	sshListeningRE = regexp.MustCompile(`SSH listening on .*:(\d+)`)
)

// StartChatd starts the chatd binary with dataDir, a free TLS port, SSH off
// unless args turn it on, and reads its start-up banner.
func StartChatd(t testing.TB, binary, dataDir string, args ...string) *Chatd {
	t.Helper()
	argv := append([]string{binary, "--data-dir", dataDir, "--tls-addr", ":0", "--ssh-addr", ""}, args...)
	s := &Chatd{Process: Start(t, "chatd", nil, argv...), DataDir: dataDir}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chatd printed:\n%s", s.Output())
		}
	})
	s.Fingerprint = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s.Expect("SHA-256 fingerprint: ")), "SHA-256 fingerprint: "))
	s.Port = listeningRE.FindStringSubmatch(s.Expect("TLS listening on "))[1]
	s.Expect("Connect with:")
	s.ConnectCmd = strings.Fields(s.Expect("openssl s_client"))
	s.CertFile = filepath.Join(dataDir, "cert.pem")
	if n := len(s.ConnectCmd); n > 1 && s.ConnectCmd[n-2] == "-CAfile" {
		s.CertFile = s.ConnectCmd[n-1]
	}
	if flagValue(argv, "--ssh-addr") != "" {
		s.HostKeyFile = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s.Expect("SSH host key: ")), "SSH host key: "))
		s.SSHFingerprint = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s.Expect("fingerprint: SHA256:")), "fingerprint: "))
		s.SSHPort = sshListeningRE.FindStringSubmatch(s.Expect("SSH listening on "))[1]
		s.Expect("ssh -p " + s.SSHPort)
	}
	if flagValue(argv, "--metrics-addr") != "" {
		line := strings.TrimSpace(s.Expect("Metrics on "))
		s.MetricsURL = strings.TrimSuffix(strings.TrimPrefix(line, "Metrics on "), "/metrics")
	}
	return s
}

// flagValue returns the value of the last flag name in argv, or "".
func flagValue(argv []string, name string) string {
	value := ""
	for i, a := range argv[:len(argv)-1] {
		if a == name {
			value = argv[i+1]
		}
	}
	return value
}

// Addr is the address clients dial: localhost and the TLS port.
func (s *Chatd) Addr() string { return "localhost:" + s.Port }

// OpenSSL starts `openssl s_client` with the command chatd printed.
func (s *Chatd) OpenSSL(t testing.TB, name string) *Process {
	t.Helper()
	return Start(t, name, nil, s.ConnectCmd...)
}

// JoinWithOpenSSL connects with the printed command and joins as nick.
func (s *Chatd) JoinWithOpenSSL(t testing.TB, nick string) *Process {
	t.Helper()
	p := s.OpenSSL(t, nick)
	p.Expect("*** Welcome to chatd")
	p.Expect("*** Choose a nickname")
	p.Send(nick)
	p.Expect("*** " + nick + " joined")
	return p
}
