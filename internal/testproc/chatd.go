package testproc

import (
	"encoding/json"
	"net"
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
	if flagValue(argv, "--log-format") == "json" {
		s.readJSONBanner(t, argv)
		return s
	}
	s.Fingerprint = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s.Expect("SHA-256 fingerprint: ")), "SHA-256 fingerprint: "))
	s.Port = listeningRE.FindStringSubmatch(s.Expect("TLS listening on "))[1]
	s.Expect("Connect with:")
	s.ConnectCmd = strings.Fields(s.Expect("openssl s_client"))
	s.setCertFile()
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

// setCertFile takes the certificate clients should trust from the -CAfile
// of the connect command, if it has one.
func (s *Chatd) setCertFile() {
	s.CertFile = filepath.Join(s.DataDir, "cert.pem")
	if n := len(s.ConnectCmd); n > 1 && s.ConnectCmd[n-2] == "-CAfile" {
		s.CertFile = s.ConnectCmd[n-1]
	}
}

// readJSONBanner reads the banner chatd logs with --log-format json: one
// record per part.
func (s *Chatd) readJSONBanner(t testing.TB, argv []string) {
	t.Helper()
	cert := s.Record(`"msg":"TLS certificate"`)
	s.Fingerprint, _ = cert["fingerprint"].(string)
	tls := s.Record(`"msg":"TLS listening"`)
	s.Port = portOf(t, tls["addr"])
	connect, _ := tls["connect"].(string)
	s.ConnectCmd = strings.Fields(connect)
	s.setCertFile()
	if flagValue(argv, "--ssh-addr") != "" {
		ssh := s.Record(`"msg":"SSH listening"`)
		s.SSHPort = portOf(t, ssh["addr"])
		s.HostKeyFile, _ = ssh["host_key"].(string)
		s.SSHFingerprint, _ = ssh["fingerprint"].(string)
	}
	if flagValue(argv, "--metrics-addr") != "" {
		url, _ := s.Record(`"msg":"metrics listening"`)["url"].(string)
		s.MetricsURL = strings.TrimSuffix(url, "/metrics")
	}
}

// Record waits for the next line of output holding want and parses it as a
// JSON log record.
func (s *Chatd) Record(want string) map[string]any {
	s.t.Helper()
	line := s.Expect(want)
	var rec map[string]any
	if err := json.Unmarshal([]byte(line[strings.Index(line, "{"):]), &rec); err != nil {
		s.t.Fatalf("log line %q is not JSON: %v", line, err)
	}
	return rec
}

// portOf returns the port of a host:port address in a record.
func portOf(t testing.TB, addr any) string {
	t.Helper()
	s, _ := addr.(string)
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		t.Fatalf("address %q in the banner: %v", addr, err)
	}
	return port
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
