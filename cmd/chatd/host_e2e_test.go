package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"chatd/certs"
	"chatd/internal/testproc"
)

// These tests are the host's first hour: the banner's commands work when
// pasted, the certificate is easy to hand out, it never changes silently,
// and the logs are for machines too.

// sameFile reports whether two files hold the same bytes.
func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	x, errA := os.ReadFile(a)
	y, errB := os.ReadFile(b)
	if errA != nil || errB != nil {
		t.Errorf("compare %s and %s: %v %v", a, b, errA, errB)
		return false
	}
	return bytes.Equal(x, y)
}

// openDataDir returns a data directory whose parents other users can pass,
// as a home directory of mode 0755 is, skipping the test if a directory
// above the test's own stops them.
func openDataDir(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	for _, d := range []string{base, filepath.Dir(base)} { // t.TempDir makes both 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := certs.ReadableByOthers(base); err != nil {
		t.Skipf("other users cannot reach the temporary directory: %v", err)
	}
	return filepath.Join(base, "chatd-data")
}

// TestBannerCommandWorksAndOthersCanReadTheCertificate: the printed
// openssl command sends SNI (so openssl 3.0 prints no SSL_get_servername
// line), trusts the public copy of the certificate, and that copy is
// cert.pem, readable by any local user while the key stays private.
func TestBannerCommandWorksAndOthersCanReadTheCertificate(t *testing.T) {
	requireOpenSSL(t)
	dataDir := openDataDir(t)
	s := startChatd(t, dataDir)
	public := filepath.Join(dataDir, "public", "cert.pem")
	for _, want := range []string{"public copy: " + public + " (readable by every user on this machine)", "hand it out: " + shellQuote(chatdBinary) + " cert --print " + public} {
		if !strings.Contains(s.Output(), want) {
			t.Errorf("the banner does not say %q:\n%s", want, s.Output())
		}
	}
	if s.CertFile != public || !sameFile(t, public, filepath.Join(dataDir, "cert.pem")) {
		t.Errorf("the connect command trusts %s, want the public copy %s of cert.pem", s.CertFile, public)
	}
	for path, want := range map[string]os.FileMode{dataDir: 0o711, filepath.Dir(public): 0o755, public: 0o644,
		filepath.Join(dataDir, "key.pem"): 0o600} {
		if info, err := os.Stat(path); err != nil || info.Mode().Perm() != want {
			t.Errorf("%s: %v, mode %04o, want %04o", path, err, info.Mode().Perm(), want)
		}
	}
	if err := certs.ReadableByOthers(public); err != nil {
		t.Errorf("the public copy: %v", err)
	}
	if err := certs.ReadableByOthers(filepath.Join(dataDir, "key.pem")); err == nil {
		t.Error("other users can read the key")
	}
	asNobody(t, public, filepath.Join(dataDir, "key.pem"))

	alice := s.JoinWithOpenSSL(t, "alice")
	alice.Send("/quit")
	alice.WaitExit()
	if out := alice.Output(); strings.Contains(out, "SSL_get_servername") {
		t.Errorf("openssl complained about the server name:\n%s", out)
	}
	s.Expect(`sni=localhost`)
}

// asNobody reads public, and fails to read private, as the user nobody,
// if the test runs as root and can become nobody.
func asNobody(t *testing.T, public, private string) {
	t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if os.Geteuid() != 0 || err != nil {
		t.Log("not root or no setpriv: the public copy was checked by its modes only")
		return
	}
	as := func(file string) ([]byte, error) {
		return exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "cat", file).Output()
	}
	if got, err := as(public); err != nil || !bytes.Contains(got, []byte("BEGIN CERTIFICATE")) {
		t.Errorf("nobody cannot read the public copy: %v", err)
	}
	if _, err := as(private); err == nil {
		t.Error("nobody can read the key")
	}
}

// TestConnectCommandForAnIPAddress: a certificate for an address is
// checked with -verify_ip and no SNI (SNI carries names only), without
// openssl's complaint about a missing server name.
func TestConnectCommandForAnIPAddress(t *testing.T) {
	requireOpenSSL(t)
	s := startChatd(t, t.TempDir(), "--host", "127.0.0.1")
	cmd := strings.Join(s.ConnectCmd, " ")
	if !strings.Contains(cmd, "-verify_ip 127.0.0.1 -noservername -connect 127.0.0.1:"+s.Port) {
		t.Errorf("connect command %q", cmd)
	}
	alice := s.JoinWithOpenSSL(t, "alice")
	alice.Send("/quit")
	alice.WaitExit()
	if out := alice.Output(); strings.Contains(out, "SSL_get_servername") {
		t.Errorf("openssl complained about the server name:\n%s", out)
	}
}

// TestCertPrintHandsOutTheServedCertificate: `chatd cert --print` prints
// the certificate a running chatd serves (its public copy, also for
// --cert), with its fingerprint as a comment; the output works as is as
// openssl's -CAfile; and a file holding a key prints no key.
func TestCertPrintHandsOutTheServedCertificate(t *testing.T) {
	requireOpenSSL(t)
	dir := t.TempDir()
	tlsDir, dataDir := filepath.Join(dir, "tls"), filepath.Join(dir, "data")
	makeCert(t, tlsDir)
	combined := filepath.Join(dir, "combined.pem")
	key, _ := os.ReadFile(filepath.Join(tlsDir, "key.pem"))
	cert, _ := os.ReadFile(filepath.Join(tlsDir, "cert.pem"))
	os.WriteFile(combined, append(key, cert...), 0o600)
	s := startChatd(t, dataDir, "--cert", combined, "--key", combined)

	printed, err := exec.Command(chatdBinary, "cert", "--print", "--data-dir", dataDir).Output()
	if err != nil {
		t.Fatalf("chatd cert --print: %v", err)
	}
	if !bytes.Contains(printed, []byte("# SHA-256 fingerprint: "+s.Fingerprint+"\n")) {
		t.Errorf("--print does not give the fingerprint %s:\n%s", s.Fingerprint, printed)
	}
	handed := filepath.Join(dir, "handed-out.pem")
	os.WriteFile(handed, printed, 0o644)
	if got := opensslFingerprint(t, handed); got != s.Fingerprint {
		t.Errorf("openssl reads fingerprint %s from the printed certificate, chatd serves %s", got, s.Fingerprint)
	}
	bob := opensslWithCA(t, s, "bob", handed)
	bob.Expect("*** Choose a nickname")
	if public, _ := os.ReadFile(filepath.Join(dataDir, "public", "cert.pem")); bytes.Contains(public, []byte("PRIVATE")) {
		t.Error("the public copy of a --cert file that holds the key holds the key")
	}

	fromFile, err := exec.Command(chatdBinary, "cert", "--print", combined).Output()
	if err != nil || bytes.Contains(fromFile, []byte("PRIVATE")) || !bytes.Contains(fromFile, []byte(s.Fingerprint)) {
		t.Errorf("chatd cert --print of a file with a key: %v\n%s", err, fromFile)
	}
	if out, err := exec.Command(chatdBinary, "cert", "--print", "--force").CombinedOutput(); exitCode(err) != 2 {
		t.Errorf("--print --force: exit %d, %s", exitCode(err), out)
	}
}

// TestNewHostKeepsNamesAndKeyAndSaysSoLoudly: restarting with a new --host
// renews the generated certificate with the same key and every old name
// plus the new one, says so in the banner and logs both fingerprints at
// WARN, and the public copy follows.
func TestNewHostKeepsNamesAndKeyAndSaysSoLoudly(t *testing.T) {
	requireOpenSSL(t)
	dataDir := t.TempDir()
	first := startChatd(t, dataDir, "--host", "old.example.com")
	first.Signal(syscall.SIGTERM)
	first.WaitExit()
	oldCert := readLeaf(t, filepath.Join(dataDir, "cert.pem"))
	keyBefore, _ := os.ReadFile(filepath.Join(dataDir, "key.pem"))

	second := startChatd(t, dataDir, "--host", "new.example.com", "--log-format", "json")
	warn := recordIn(t, second, `"msg":"TLS certificate replaced`)
	newCert := readLeaf(t, filepath.Join(dataDir, "cert.pem"))
	if warn["level"] != "WARN" || warn["old_fingerprint"] != first.Fingerprint || warn["fingerprint"] != second.Fingerprint ||
		warn["same_key"] != true || first.Fingerprint == second.Fingerprint {
		t.Errorf("replacement record %v; fingerprints %s then %s", warn, first.Fingerprint, second.Fingerprint)
	}
	for _, name := range append(certs.SubjectAltNames(oldCert), "new.example.com") {
		if newCert.VerifyHostname(name) != nil {
			t.Errorf("the new certificate does not cover %s: %v", name, certs.SubjectAltNames(newCert))
		}
	}
	keyAfter, _ := os.ReadFile(filepath.Join(dataDir, "key.pem"))
	if !bytes.Equal(keyBefore, keyAfter) || !samePublicKey(oldCert, newCert) {
		t.Error("the key changed")
	}
	if !sameFile(t, filepath.Join(dataDir, "cert.pem"), filepath.Join(dataDir, "public", "cert.pem")) {
		t.Error("the public copy is not the new certificate")
	}
	if !strings.Contains(strings.Join(second.ConnectCmd, " "), "-verify_hostname new.example.com") {
		t.Errorf("the connect command %q does not use the name the operator gave", second.ConnectCmd)
	}

	second.Signal(syscall.SIGTERM) // one chatd at a time on a data directory (its store is locked)
	second.WaitExit()
	third := startChatd(t, dataDir, "--host", "new.example.com")
	if third.Fingerprint != second.Fingerprint || strings.Contains(third.Output(), "CHANGED") {
		t.Errorf("a restart with the same hosts changed the certificate:\n%s", third.Output())
	}
}

// TestRenewalKeepsTheKeyAndTheReloadFollows: a generated certificate near
// its expiry is renewed with the same key, at start and on SIGHUP, said
// loudly, and the public copy follows each time.
func TestRenewalKeepsTheKeyAndTheReloadFollows(t *testing.T) {
	requireOpenSSL(t)
	dataDir := t.TempDir()
	expiring := writeExpiringCert(t, dataDir)
	s := startChatd(t, dataDir)
	if !strings.Contains(s.Output(), "CHANGED: it replaces SHA-256 "+certs.Fingerprint(expiring.Raw)) {
		t.Errorf("the banner does not say the certificate changed:\n%s", s.Output())
	}
	line := lineIn(t, s, `msg="TLS certificate replaced`)
	if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "old_fingerprint="+certs.Fingerprint(expiring.Raw)) ||
		!strings.Contains(line, "fingerprint="+s.Fingerprint) || !strings.Contains(line, "same_key=true") || !strings.Contains(line, `why="the old one expires`) {
		t.Errorf("renewal record %q", line)
	}
	renewed := readLeaf(t, filepath.Join(dataDir, "cert.pem"))
	if !samePublicKey(renewed, expiring) || time.Until(renewed.NotAfter) < certs.CertValidity-48*time.Hour {
		t.Errorf("renewed certificate: same key %v, until %v", samePublicKey(renewed, expiring), renewed.NotAfter)
	}
	alice := s.JoinWithOpenSSL(t, "alice")

	// While it runs: the certificate is put back near expiry and chatd
	// told to reload, as after restoring a backup.
	expiring = writeExpiringCert(t, dataDir)
	s.Signal(syscall.SIGHUP)
	line = s.Expect(`msg="TLS certificate replaced`)
	reloaded := s.Expect(`msg="certificate reloaded"`)
	renewed = readLeaf(t, filepath.Join(dataDir, "cert.pem"))
	// The old fingerprint is the one users saw: the certificate served
	// until now, not the expiring one that was never served.
	if !strings.Contains(line, "old_fingerprint="+s.Fingerprint) || !strings.Contains(line, " fingerprint="+certs.Fingerprint(renewed.Raw)) ||
		!strings.Contains(reloaded, " fingerprint="+certs.Fingerprint(renewed.Raw)) {
		t.Errorf("renewal on SIGHUP logged %q and %q", line, reloaded)
	}
	if !samePublicKey(renewed, expiring) || !sameFile(t, filepath.Join(dataDir, "cert.pem"), filepath.Join(dataDir, "public", "cert.pem")) {
		t.Error("the renewal on SIGHUP changed the key, or the public copy did not follow")
	}
	bob := opensslWithCA(t, s, "bob", filepath.Join(dataDir, "public", "cert.pem"))
	bob.Expect("*** Choose a nickname")
	alice.Send("/who")
	alice.Expect("*** 1 member: alice")
}

// writeExpiringCert writes into dataDir a generated-style certificate
// that expires in 10 days, with the key already there (a new one if none),
// and returns it.
func writeExpiringCert(t *testing.T, dataDir string) *x509.Certificate {
	t.Helper()
	keyFile := filepath.Join(dataDir, "key.pem")
	var key crypto.Signer
	if data, err := os.ReadFile(keyFile); err == nil {
		block, _ := pem.Decode(data)
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		key = k.(crypto.Signer)
	} else if key, err = certs.GenerateKey(); err != nil {
		t.Fatal(err)
	}
	certPEM, err := certs.SelfSign(key, certs.DefaultHosts(), time.Now().Add(10*24*time.Hour-certs.CertValidity))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := certs.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := certs.WriteKeyPair(dataDir, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	return readLeaf(t, filepath.Join(dataDir, "cert.pem"))
}

func readLeaf(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	chain, err := readCertFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return chain[0]
}

// TestSIGHUPWarnsAboutNoSubjectAltNameLikeStartUp: the seed project's
// certificate without subjectAltName gets the same WARN record on every
// reload as at start-up.
func TestSIGHUPWarnsAboutNoSubjectAltNameLikeStartUp(t *testing.T) {
	requireOpenSSL(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "server-cert.pem"), filepath.Join(dir, "server-key.key")
	conf := filepath.Join(dir, "openssl.cnf")
	os.WriteFile(conf, []byte(seedOpenSSLConf), 0o644)
	req := exec.Command("openssl", "req", "-x509", "-nodes", "-days", "365", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-keyout", keyFile, "-out", certFile, "-config", conf)
	if out, err := req.CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	s := startChatd(t, filepath.Join(dir, "data"), "--cert", certFile, "--key", keyFile, "--log-format", "json")
	atStart := recordIn(t, s, `"msg":"TLS certificate has no subjectAltName`)
	s.Signal(syscall.SIGHUP)
	s.Record(`"msg":"certificate reloaded"`)
	atReload := s.Record(`"msg":"TLS certificate has no subjectAltName`)
	delete(atStart, "time")
	delete(atReload, "time")
	if atStart["level"] != "WARN" || atStart["fingerprint"] != s.Fingerprint || !equalJSON(atStart, atReload) {
		t.Errorf("at start-up:\n%v\non reload:\n%v", atStart, atReload)
	}
}

// lineIn returns the first line chatd printed that holds want, wherever
// the test has read to: records logged while the banner is printed.
func lineIn(t *testing.T, s *testproc.Chatd, want string) string {
	t.Helper()
	for line := range strings.Lines(s.Output()) {
		if strings.Contains(line, want) {
			return strings.TrimSpace(line)
		}
	}
	t.Fatalf("chatd did not print %q:\n%s", want, s.Output())
	return ""
}

// recordIn is lineIn for a JSON record, parsed.
func recordIn(t *testing.T, s *testproc.Chatd, want string) map[string]any {
	t.Helper()
	var rec map[string]any
	if err := json.Unmarshal([]byte(lineIn(t, s, want)), &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func equalJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestJSONModeBannerIsRecordsOnStderr: with --log-format json, standard
// output stays empty, the banner and a failure to start are JSON records on
// standard error, and every duration is a number of seconds named so.
func TestJSONModeBannerIsRecordsOnStderr(t *testing.T) {
	requireOpenSSL(t)
	cmd := exec.Command(chatdBinary, "--data-dir", t.TempDir(), "--tls-addr", "127.0.0.1:0", "--ssh-addr", "127.0.0.1:0",
		"--metrics-addr", "127.0.0.1:0", "--log-format", "json")
	var stdout lockedBuffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	records := make(chan map[string]any, 100)
	go readRecords(stderr, records)

	banner := map[string]map[string]any{}
	for _, msg := range []string{"TLS certificate", "TLS listening", "SSH listening", "metrics listening"} {
		banner[msg] = nextRecord(t, records, msg)
	}
	for msg, want := range map[string][]string{
		"TLS certificate":   {"file", "fingerprint", "valid_for", "not_after", "public_copy", "print_command"},
		"TLS listening":     {"addr", "connect"},
		"SSH listening":     {"addr", "host_key", "fingerprint", "connect"},
		"metrics listening": {"url"},
	} {
		for _, k := range want {
			if banner[msg][k] == nil {
				t.Errorf("banner record %q has no %s: %v", msg, k, banner[msg])
			}
		}
	}
	connect, _ := banner["TLS listening"]["connect"].(string)
	alice := testproc.Start(t, "alice", nil, strings.Fields(connect)...)
	alice.Expect("*** Choose a nickname")
	alice.Send("alice")
	alice.Send("/quit")
	alice.Expect("*** Goodbye.")
	closed := nextRecord(t, records, "connection closed")
	if d, ok := closed["duration_seconds"].(float64); !ok || d <= 0 || d > 60 {
		t.Errorf("duration_seconds = %v in %v", closed["duration_seconds"], closed)
	}
	if _, ok := closed["duration"]; ok {
		t.Errorf("a duration without its unit in the name: %v", closed)
	}
	// A second chatd on the same port fails to start, and says why in JSON.
	addr, _ := banner["TLS listening"]["addr"].(string)
	var out2, err2 bytes.Buffer
	second := exec.Command(chatdBinary, "--data-dir", t.TempDir(), "--tls-addr", addr, "--ssh-addr", "", "--log-format", "json")
	second.Stdout, second.Stderr = &out2, &err2
	if err := second.Run(); exitCode(err) != 1 || out2.Len() > 0 {
		t.Errorf("a second chatd on %s: exit %d, standard output %q", addr, exitCode(err), out2.String())
	}
	lines := strings.Split(strings.TrimSpace(err2.String()), "\n")
	var failed map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &failed); err != nil || failed["msg"] != "chatd failed" || failed["level"] != "ERROR" {
		t.Errorf("a failed start logged %q", err2.String())
	}

	cmd.Process.Signal(syscall.SIGTERM)
	nextRecord(t, records, "stopped")
	for range records { // to the end of the output, before Wait closes it
	}
	cmd.Wait()
	if out := stdout.String(); out != "" {
		t.Errorf("standard output in JSON mode:\n%s", out)
	}
}

// notJSON is the message readRecords gives a line that is not JSON.
const notJSON = "(not JSON)"

// readRecords sends each line of r, parsed as a JSON record, to records,
// until r ends; a line that is not JSON comes as a record with message
// notJSON and the line as "line".
func readRecords(r io.Reader, records chan<- map[string]any) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			rec = map[string]any{"msg": notJSON, "line": sc.Text()}
		}
		records <- rec
	}
	close(records)
}

// nextRecord returns the next record with message msg.
func nextRecord(t *testing.T, records <-chan map[string]any, msg string) map[string]any {
	t.Helper()
	timeout := time.After(testproc.Wait)
	for {
		select {
		case rec, ok := <-records:
			if !ok {
				t.Fatalf("the log ended before %q", msg)
			}
			if rec["msg"] == notJSON {
				t.Errorf("standard error line is not JSON: %q", rec["line"])
			}
			if rec["msg"] == msg {
				return rec
			}
		case <-timeout:
			t.Fatalf("no %q record within %v", msg, testproc.Wait)
		}
	}
}

// lockedBuffer is a bytes.Buffer a process may write while a test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestPublicDirElsewhereLeavesTheDataDirPrivate: with --public-dir (the
// systemd unit's /run/chatd), the copy goes there and the data directory
// keeps mode 0700.
func TestPublicDirElsewhereLeavesTheDataDirPrivate(t *testing.T) {
	requireOpenSSL(t)
	dir := t.TempDir()
	dataDir, publicDir := filepath.Join(dir, "data"), filepath.Join(dir, "run", "chatd")
	s := startChatd(t, dataDir, "--public-dir", publicDir)
	public := filepath.Join(publicDir, "cert.pem")
	if s.CertFile != public || !sameFile(t, public, filepath.Join(dataDir, "cert.pem")) {
		t.Errorf("the connect command trusts %s, want %s, a copy of cert.pem", s.CertFile, public)
	}
	if info, err := os.Stat(dataDir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("data directory: %v, mode %04o, want 0700", err, info.Mode().Perm())
	}
	s.JoinWithOpenSSL(t, "alice")
}

// runChatd runs chatd with args to its end and returns its exit status,
// standard output and standard error.
func runChatd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(chatdBinary, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exitCode(err), out.String(), errOut.String()
	case <-time.After(testproc.Wait):
		cmd.Process.Kill()
		<-done
		t.Fatalf("chatd %q did not exit within %v:\n%s%s", args, testproc.Wait, out.String(), errOut.String())
		return 0, "", ""
	}
}

// TestUnsafePublicDirIsRefused: like sshd's StrictModes, chatd refuses to
// start when another user could replace the public copy (its directory or
// a parent writable by group or others, or owned by another user), naming
// the directory and the fix, in JSON too; a sticky parent such as /tmp is
// fine. `chatd cert --print` of a file there warns on stderr.
func TestUnsafePublicDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared")
	public := filepath.Join(shared, "chatd")
	os.MkdirAll(public, 0o755)
	os.Chmod(shared, 0o777) // a parent anyone may write, not sticky
	args := []string{"--data-dir", filepath.Join(dir, "data"), "--public-dir", public, "--tls-addr", "127.0.0.1:0", "--ssh-addr", ""}
	code, stdout, stderr := runChatd(t, args...)
	if code != 1 || !strings.Contains(stderr, "refusing to publish the certificate in "+public) ||
		!strings.Contains(stderr, shared+" is writable by its group and all users (mode 0777)") || !strings.Contains(stderr, "fix: chmod go-w "+shared) {
		t.Errorf("a public directory under one all may write: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(public, "cert.pem")); err == nil {
		t.Error("chatd wrote the public copy there")
	}
	code, stdout, stderr = runChatd(t, append(args, "--log-format", "json")...)
	var rec map[string]any
	if err := json.Unmarshal([]byte(stderr), &rec); code != 1 || err != nil || rec["msg"] != "chatd failed" ||
		!strings.Contains(rec["err"].(string), "chmod go-w "+shared) || stdout != "" {
		t.Errorf("in JSON: exit %d, %v\n%s%s", code, err, stdout, stderr)
	}

	// A file someone else could have replaced: --print prints it, and warns.
	os.WriteFile(filepath.Join(public, "cert.pem"), certPEMOf(t), 0o644)
	cmd := exec.Command(chatdBinary, "cert", "--print", filepath.Join(public, "cert.pem"))
	var warn bytes.Buffer
	cmd.Stderr = &warn
	if out, err := cmd.Output(); err != nil || !bytes.Contains(out, []byte("BEGIN CERTIFICATE")) ||
		!strings.Contains(warn.String(), "WARNING: "+shared+" is writable by its group and all users") {
		t.Errorf("--print of a file in a directory all may write: %v\n%s", err, warn.String())
	}

	os.Chmod(shared, 0o777|os.ModeSticky) // as /tmp: others cannot replace our files
	s := startChatd(t, filepath.Join(dir, "data"), "--public-dir", public)
	if s.CertFile != filepath.Join(public, "cert.pem") {
		t.Errorf("under a sticky parent: the connect command trusts %s", s.CertFile)
	}
	s.Signal(syscall.SIGTERM)
	s.WaitExit()
	os.Chmod(shared, 0o755)

	if os.Geteuid() != 0 {
		t.Log("not root: a directory owned by another user is not tested")
		return
	}
	os.Chown(public, 65534, 65534) // nobody
	if code, _, stderr := runChatd(t, args...); code != 1 || !strings.Contains(stderr, public+" is owned by uid 65534") ||
		!strings.Contains(stderr, "fix: chown 0 "+public) {
		t.Errorf("a public directory owned by nobody: exit %d\n%s", code, stderr)
	}
	os.Chown(public, 0, 0)
	os.Chown(filepath.Join(public, "cert.pem"), 65534, 65534)
	cmd = exec.Command(chatdBinary, "cert", "--print", filepath.Join(public, "cert.pem"))
	warn.Reset()
	cmd.Stderr = &warn
	if _, err := cmd.Output(); err != nil || !strings.Contains(warn.String(), "WARNING: "+filepath.Join(public, "cert.pem")+" is owned by uid 65534") {
		t.Errorf("--print of a file owned by nobody: %v\n%s", err, warn.String())
	}
}

// certPEMOf returns a freshly generated certificate, PEM encoded.
func certPEMOf(t *testing.T) []byte {
	t.Helper()
	certPEM, _, err := certs.GenerateSelfSigned([]string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return certPEM
}

// TestCertPrintAfterForcePrintsThePendingOne: after `chatd cert --force`
// while chatd runs, `chatd cert --print` prints the renewed cert.pem (the
// fingerprint to publish first) and says on stderr which fingerprint is
// served now and which is pending; after SIGHUP it says nothing more.
func TestCertPrintAfterForcePrintsThePendingOne(t *testing.T) {
	requireOpenSSL(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	s := startChatd(t, dataDir)
	if out, err := exec.Command(chatdBinary, "cert", "--force", "--out", dataDir).CombinedOutput(); err != nil {
		t.Fatalf("chatd cert --force: %v\n%s", err, out)
	}
	pending := certs.Fingerprint(readLeaf(t, filepath.Join(dataDir, "cert.pem")).Raw)
	printed, note := certPrint(t, dataDir)
	if !strings.Contains(printed, "# SHA-256 fingerprint: "+pending+"\n") || pending == s.Fingerprint {
		t.Errorf("--print after --force prints:\n%s\nwant the pending %s (served: %s)", printed, pending, s.Fingerprint)
	}
	if !strings.Contains(note, "served now: SHA-256 "+s.Fingerprint) || !strings.Contains(note, "pending:    SHA-256 "+pending) {
		t.Errorf("--print after --force says on stderr:\n%s", note)
	}
	s.Signal(syscall.SIGHUP)
	s.Expect(`msg="certificate reloaded"`)
	if printed, note := certPrint(t, dataDir); !strings.Contains(printed, pending) || note != "" {
		t.Errorf("after SIGHUP --print prints\n%s\nand says %q", printed, note)
	}
}

// certPrint runs `chatd cert --print --data-dir dataDir`.
func certPrint(t *testing.T, dataDir string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(chatdBinary, "cert", "--print", "--data-dir", dataDir)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chatd cert --print: %v\n%s", err, errOut.String())
	}
	return string(out), errOut.String()
}

// TestJSONModeFlagErrorsAreRecords: with --log-format json, flags that do
// not validate are reported as one JSON record on stderr, exit status 2.
func TestJSONModeFlagErrorsAreRecords(t *testing.T) {
	dataDir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--flood-rate", "0"}, "--flood-rate must be positive"},
		{[]string{"--data-dir", dataDir, "--public-dir", dataDir}, "--public-dir must not be the data directory"},
	} {
		code, stdout, stderr := runChatd(t, append([]string{"--log-format", "json"}, tc.args...)...)
		var rec map[string]any
		err := json.Unmarshal([]byte(stderr), &rec)
		if code != 2 || stdout != "" || err != nil || rec["level"] != "ERROR" || rec["msg"] != "chatd failed" ||
			!strings.Contains(rec["err"].(string), tc.want) {
			t.Errorf("chatd %q: exit %d, %v, stdout %q, stderr %q", tc.args, code, err, stdout, stderr)
		}
	}
}

// TestKeeperRenewsWhenDueWhileRunning: the keeper's periodic check renews
// a generated certificate that has come within certs.RenewBefore of
// expiry, with the same key, logs it at WARN and updates the public copy;
// it stops when its context ends. The interval and clock are the test's.
func TestKeeperRenewsWhenDueWhileRunning(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := &config{dataDir: dataDir}
	var log lockedBuffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	k := newCertKeeper(cfg, logger)
	k.renewEvery = time.Millisecond
	sc, err := k.start(newBanner("text", io.Discard, logger))
	if err != nil {
		t.Fatal(err)
	}
	first := sc.Cert.Leaf
	nowCh := make(chan time.Time, 1)
	nowCh <- time.Now()
	clock := time.Now()
	k.now = func() time.Time {
		select {
		case c := <-nowCh:
			clock = c
		default:
		}
		return clock
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { k.run(ctx, nil); close(done) }()

	// Not due: ticks go by and nothing changes. Then 20 days before expiry.
	waitFor(t, "a check", func() bool { return len(nowCh) == 0 })
	nowCh <- time.Now()
	waitFor(t, "another check", func() bool { return len(nowCh) == 0 })
	if !k.store.Certificate().Leaf.Equal(first) {
		t.Fatal("a certificate that was not due was renewed")
	}
	nowCh <- first.NotAfter.Add(-20 * 24 * time.Hour)
	waitFor(t, "the renewal", func() bool { return !k.store.Certificate().Leaf.Equal(first) })
	cancel()
	<-done

	renewed := k.store.Certificate().Leaf
	if !samePublicKey(renewed, first) || !renewed.Equal(readLeaf(t, filepath.Join(dataDir, "cert.pem"))) ||
		!renewed.Equal(readLeaf(t, filepath.Join(dataDir, "public", "cert.pem"))) {
		t.Error("the renewal changed the key, or cert.pem or its public copy is not the renewed certificate")
	}
	if out := log.String(); !strings.Contains(out, `level=WARN msg="TLS certificate replaced`) ||
		!strings.Contains(out, "old_fingerprint="+certs.Fingerprint(first.Raw)) || !strings.Contains(out, `why="the old one expires`) {
		t.Errorf("the log:\n%s", out)
	}
}

// waitFor polls cond until it holds, failing the test after testproc.Wait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testproc.Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, testproc.Wait)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPublicDirHoldsHostKeyPublicHalf: with --public-dir (the systemd
// unit's /run/chatd) and a data directory closed to other users, the SSH
// host key's public half is written into the public directory too (0644),
// and the banner's `check: ssh-keygen -lf` names that copy, which
// ssh-keygen reads with the banner's fingerprint.
func TestPublicDirHoldsHostKeyPublicHalf(t *testing.T) {
	dir := t.TempDir()
	dataDir, publicDir := filepath.Join(dir, "data"), filepath.Join(dir, "run", "chatd")
	s := startChatd(t, dataDir, "--public-dir", publicDir, "--ssh-addr", "127.0.0.1:0")
	pub := filepath.Join(publicDir, "ssh_host_ed25519_key.pub")
	if !strings.Contains(s.Output(), "public half: "+pub+" (check: ssh-keygen -lf "+pub+")") {
		t.Errorf("the banner does not name the public directory's copy %s:\n%s", pub, s.Output())
	}
	if info, err := os.Stat(pub); err != nil || info.Mode().Perm() != 0o644 {
		t.Fatalf("public half in the public directory: %v", err)
	}
	if info, err := os.Stat(dataDir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("data directory: %v, want mode 0700", err)
	}
	out, err := exec.Command("ssh-keygen", "-lf", pub).CombinedOutput()
	if err != nil || !strings.Contains(string(out), s.SSHFingerprint) {
		t.Errorf("ssh-keygen -lf %s: %v %s; want %s", pub, err, out, s.SSHFingerprint)
	}
}
