package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run the real chatd binary, as a user would, and talk to it with
// the real openssl s_client.

const e2eWait = 15 * time.Second

var chatdBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chatd-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	chatdBinary = filepath.Join(dir, "chatd")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=e2e-test", "-o", chatdBinary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building chatd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func requireOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("these tests need the openssl binary (apt-get install openssl)")
	}
}

// lineProcess is a running program whose output is read line by line.
type lineProcess struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}
	mu    sync.Mutex
	seen  []string
}

func startProcess(t *testing.T, name string, env []string, argv ...string) *lineProcess {
	t.Helper()
	p := &lineProcess{t: t, name: name, cmd: exec.Command(argv[0], argv[1:]...), lines: make(chan string, 1024), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &logWriter{t: t, prefix: name + " stderr: "}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// logWriter passes a process's stderr to the test log.
type logWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	text   strings.Builder
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.text.Write(b)
	w.t.Log(w.prefix + strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func (w *logWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.text.String()
}

func (p *lineProcess) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("%s: send %q: %v", p.name, line, err)
	}
}

// expect waits for an output line containing want and returns it.
func (p *lineProcess) expect(want string) string {
	p.t.Helper()
	deadline := time.After(e2eWait)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("%s ended before printing %q; it printed %q", p.name, want, p.output())
			}
			p.mu.Lock()
			p.seen = append(p.seen, line)
			p.mu.Unlock()
			if strings.Contains(line, want) {
				return line
			}
		case <-deadline:
			p.t.Fatalf("%s did not print %q in %v; it printed %q", p.name, want, e2eWait, p.output())
		}
	}
}

func (p *lineProcess) output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// wait waits for the process to exit and returns its exit code.
func (p *lineProcess) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(e2eWait):
		p.t.Fatalf("%s did not exit within %v", p.name, e2eWait)
		return -1
	}
}

// chatdServer is a running chatd and what it printed at start.
type chatdServer struct {
	*lineProcess
	dataDir     string
	port        string
	fingerprint string
	connectCmd  []string
}

var listeningRE = regexp.MustCompile(`^TLS listening on .*:(\d+)$`)

// startChatd starts the real binary on a free port with a temporary data
// directory and reads its start-up banner.
func startChatd(t *testing.T, dataDir string, args ...string) *chatdServer {
	t.Helper()
	argv := append([]string{chatdBinary, "--data-dir", dataDir, "--ssh-addr", ""}, args...)
	s := &chatdServer{lineProcess: startProcess(t, "chatd", []string{"CHATD_TLS_ADDR=:0"}, argv...), dataDir: dataDir}
	s.fingerprint = strings.TrimPrefix(strings.TrimSpace(s.expect("SHA-256 fingerprint: ")), "SHA-256 fingerprint: ")
	s.port = listeningRE.FindStringSubmatch(s.expect("TLS listening on "))[1]
	s.expect("Connect with:")
	s.connectCmd = strings.Fields(s.expect("openssl s_client"))
	return s
}

// openssl starts `openssl s_client` with the command chatd printed, or with
// args instead of its -CAfile when given.
func (s *chatdServer) openssl(t *testing.T, name string, extra ...string) *lineProcess {
	t.Helper()
	return startProcess(t, name, nil, append(s.connectCmd, extra...)...)
}

// joinWithOpenSSL connects with the printed command and joins as nick.
func (s *chatdServer) joinWithOpenSSL(t *testing.T, nick string) *lineProcess {
	t.Helper()
	p := s.openssl(t, nick)
	p.expect("*** Welcome to chatd")
	p.expect("*** Choose a nickname")
	p.send(nick)
	p.expect("*** " + nick + " joined")
	return p
}

func TestOpenSSLConversationWithGeneratedCert(t *testing.T) {
	requireOpenSSL(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	s := startChatd(t, dataDir)
	if want := []string{"openssl", "s_client", "-quiet", "-verify_return_error", "-verify_hostname", "localhost", "-connect", "localhost:" + s.port, "-CAfile", filepath.Join(dataDir, "cert.pem")}; strings.Join(s.connectCmd, " ") != strings.Join(want, " ") {
		t.Errorf("printed connect command %q, want %q", s.connectCmd, want)
	}
	if got := opensslFingerprint(t, filepath.Join(dataDir, "cert.pem")); got != s.fingerprint {
		t.Errorf("printed fingerprint %s, openssl says %s", s.fingerprint, got)
	}
	converse(t, s)
}

// converse drives two openssl users through a conversation.
func converse(t *testing.T, s *chatdServer) {
	t.Helper()
	alice := s.joinWithOpenSSL(t, "alice")
	alice.send("hello before bob")
	bob := s.joinWithOpenSSL(t, "bob") // the join line comes after the history
	alice.expect("*** bob joined")
	bob.expect("*** 2 members: alice, bob")

	alice.send("hi bob, this is encrypted")
	if line := bob.expect("<alice>"); !regexp.MustCompile(`^\[\d\d:\d\d:\d\d\] <alice> hi bob, this is encrypted$`).MatchString(line) {
		t.Errorf("bob saw %q", line)
	}
	bob.send("/me waves")
	alice.expect("* bob waves")
	bob.send("/msg alice just between us")
	alice.expect("*bob* just between us")
	bob.expect("-> *alice* just between us")
	alice.send("!users")
	alice.expect("*** 2 members: alice, bob")
	bob.send("/quit")
	bob.expect("*** Goodbye.")
	alice.expect("*** bob left (quit)")
	if code := bob.wait(); code != 0 {
		t.Errorf("bob's openssl exited %d after /quit", code)
	}
	for _, line := range alice.output() {
		if strings.Contains(line, "hi bob, this is encrypted") {
			t.Errorf("alice's own message was echoed back: %q", line)
		}
	}
}

func TestHistoryReplayForLateJoiner(t *testing.T) {
	requireOpenSSL(t)
	s := startChatd(t, t.TempDir())
	alice := s.joinWithOpenSSL(t, "alice")
	alice.send("said before you came")
	alice.send("/who") // a round trip, so the message is in before bob joins
	alice.expect("*** 1 member: alice")
	bob := s.openssl(t, "bob")
	bob.expect("*** Choose a nickname")
	bob.send("bob")
	bob.expect("*** recent history: 2 events")
	bob.expect("*** alice joined")
	bob.expect("<alice> said before you came")
	bob.expect("*** end of recent history")
	bob.expect("*** bob joined")
}

func TestWrongCAIsRefusedByOpenSSL(t *testing.T) {
	requireOpenSSL(t)
	s := startChatd(t, t.TempDir())
	other := t.TempDir()
	if out, err := exec.Command(chatdBinary, "cert", "--out", other).CombinedOutput(); err != nil {
		t.Fatalf("chatd cert: %v\n%s", err, out)
	}
	args := append([]string(nil), s.connectCmd[:len(s.connectCmd)-1]...)
	args = append(args, filepath.Join(other, "cert.pem"))
	p := startProcess(t, "mallory", nil, args...)
	if code := p.wait(); code == 0 {
		t.Error("openssl accepted a server whose certificate is not the CA it was given")
	}
	for _, line := range p.output() {
		if strings.Contains(line, "Welcome") {
			t.Errorf("the client got past verification: %q", line)
		}
	}
}

func TestCertificateIsReusedAcrossRestarts(t *testing.T) {
	dataDir := t.TempDir()
	first := startChatd(t, dataDir)
	first.cmd.Process.Signal(syscall.SIGTERM)
	first.wait()
	second := startChatd(t, dataDir)
	if second.fingerprint != first.fingerprint {
		t.Errorf("fingerprint changed across restarts: %s then %s", first.fingerprint, second.fingerprint)
	}
	for _, line := range second.output() {
		if strings.Contains(line, "(new:") {
			t.Errorf("second start made a new certificate: %q", line)
		}
	}
}

// The recipe from the seed project's README, run as written.
const seedOpenSSLConf = `[ req ]
default_bits       = 2048
prompt             = no
default_md         = sha256
distinguished_name = dn
req_extensions     = req_ext

[ dn ]
CN = localhost

[ req_ext ]
subjectAltName = @alt_names

[ alt_names ]
DNS.1 = localhost
`

func TestSeedOpenSSLRecipeCertificate(t *testing.T) {
	requireOpenSSL(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "openssl.cnf")
	os.WriteFile(conf, []byte(seedOpenSSLConf), 0o644)
	certFile, keyFile := filepath.Join(dir, "server-cert.pem"), filepath.Join(dir, "server-key.key")
	req := exec.Command("openssl", "req", "-x509", "-nodes", "-days", "365", "-newkey", "rsa:2048",
		"-keyout", keyFile, "-out", certFile, "-config", conf)
	if out, err := req.CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	s := startChatd(t, filepath.Join(dir, "unused-data"), "--cert", certFile, "--key", keyFile)
	if s.connectCmd[len(s.connectCmd)-1] != certFile {
		t.Errorf("connect command %q does not use the given certificate as CA", s.connectCmd)
	}
	if got := opensslFingerprint(t, certFile); got != s.fingerprint {
		t.Errorf("printed fingerprint %s, openssl says %s", s.fingerprint, got)
	}
	if _, err := os.Stat(filepath.Join(dir, "unused-data", "cert.pem")); err == nil {
		t.Error("chatd generated a certificate although --cert was given")
	}
	converse(t, s)
}

func TestSignalsShutDownGracefully(t *testing.T) {
	requireOpenSSL(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			s := startChatd(t, t.TempDir())
			alice := s.joinWithOpenSSL(t, "alice")
			start := time.Now()
			s.cmd.Process.Signal(sig)
			alice.expect("*** The server is shutting down. Goodbye!")
			if code := s.wait(); code != 0 {
				t.Errorf("chatd exited %d after %v", code, sig)
			}
			if took := time.Since(start); took > shutdownTimeout+time.Second {
				t.Errorf("shutdown took %v", took)
			}
			alice.wait()
		})
	}
}

func TestCertCommand(t *testing.T) {
	requireOpenSSL(t)
	out := filepath.Join(t.TempDir(), "certs")
	cmd := exec.Command(chatdBinary, "cert", "--host", "chat.example.com", "--host", "203.0.113.10", "--out", out)
	printed, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chatd cert: %v\n%s", err, printed)
	}
	text, err := exec.Command("openssl", "x509", "-in", filepath.Join(out, "cert.pem"), "-noout", "-text").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl x509: %v\n%s", err, text)
	}
	for _, want := range []string{"DNS:chat.example.com", "IP Address:203.0.113.10", "ASN1 OID: prime256v1"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("certificate lacks %s:\n%s", want, text)
		}
	}
	if strings.Contains(string(text), "DNS:localhost") {
		t.Error("certificate has SANs that were not asked for")
	}
	if !strings.Contains(string(printed), opensslFingerprint(t, filepath.Join(out, "cert.pem"))) {
		t.Errorf("chatd cert did not print the fingerprint:\n%s", printed)
	}
	info, err := os.Stat(filepath.Join(out, "key.pem"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key.pem: %v, mode %v", err, info.Mode())
	}
	again, err := exec.Command(chatdBinary, "cert", "--out", out).CombinedOutput()
	if err == nil || !strings.Contains(string(again), "--force") {
		t.Errorf("a second chatd cert overwrote the pair or did not mention --force: %v\n%s", err, again)
	}
}

func TestHelpAndVersion(t *testing.T) {
	out, err := exec.Command(chatdBinary, "--version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "chatd e2e-test" {
		t.Errorf("--version: %v %q", err, out)
	}
	out, err = exec.Command(chatdBinary, "--help").CombinedOutput()
	if err != nil {
		t.Errorf("--help exited with %v", err)
	}
	for _, want := range []string{"--data-dir", "CHATD_DATA_DIR", "--tls-addr", `":7443"`, "--ssh-addr", `":2222"`, "--cert", "--key", "--host", "CHATD_HOST"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--help does not mention %s:\n%s", want, out)
		}
	}
	out, err = exec.Command(chatdBinary, "--no-such-flag").CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "no-such-flag") {
		t.Errorf("an unknown flag: exit %d, output %q", code, out)
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// opensslFingerprint asks openssl for a certificate's SHA-256 fingerprint.
func opensslFingerprint(t *testing.T, certFile string) string {
	t.Helper()
	out, err := exec.Command("openssl", "x509", "-in", certFile, "-noout", "-fingerprint", "-sha256").Output()
	if err != nil {
		t.Fatalf("openssl x509 -fingerprint: %v", err)
	}
	_, fp, _ := strings.Cut(strings.TrimSpace(string(out)), "=")
	return fp
}
