package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatd/internal/testproc"
)

// makeCert writes a fresh pair into dir with the real `chatd cert`.
func makeCert(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command(chatdBinary, "cert", "--out", dir, "--force").CombinedOutput(); err != nil {
		t.Fatalf("chatd cert: %v\n%s", err, out)
	}
}

// opensslWithCA starts openssl s_client trusting caFile instead of what
// chatd printed.
func opensslWithCA(t *testing.T, s *testproc.Chatd, name, caFile string) *testproc.Process {
	t.Helper()
	args := append([]string(nil), s.ConnectCmd[:len(s.ConnectCmd)-1]...)
	return testproc.Start(t, name, nil, append(args, caFile)...)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, b, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestSIGHUPReloadsTheCertificate(t *testing.T) {
	requireOpenSSL(t)
	dir := t.TempDir()
	certDir := filepath.Join(dir, "tls")
	makeCert(t, certDir)
	certFile, keyFile := filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "key.pem")
	oldCA, newCA := filepath.Join(dir, "old.pem"), filepath.Join(dir, "new.pem")
	copyFile(t, certFile, oldCA)

	s := startChatd(t, filepath.Join(dir, "data"), "--cert", certFile, "--key", keyFile)
	alice := s.JoinWithOpenSSL(t, "alice")

	makeCert(t, certDir) // a renewal, as a certbot deploy hook would leave it
	copyFile(t, certFile, newCA)
	s.Signal(syscall.SIGHUP)
	s.Expect("certificate reloaded")

	bob := opensslWithCA(t, s, "bob", newCA)
	bob.Expect("*** Choose a nickname")
	bob.Send("bob")
	bob.Expect("*** bob joined")
	alice.Send("my connection survived the reload")
	bob.Expect("<alice> my connection survived the reload")

	stale := opensslWithCA(t, s, "stale", oldCA)
	if code := stale.WaitExit(); code == 0 || strings.Contains(stale.Output(), "Welcome") {
		t.Errorf("a client trusting only the old certificate still got in:\n%s", stale.Output())
	}

	os.WriteFile(certFile, []byte("-----BEGIN CERTIFICATE-----\nbroken\n"), 0o644)
	s.Signal(syscall.SIGHUP)
	s.Expect("certificate reload failed; still serving the old certificate")
	carol := opensslWithCA(t, s, "carol", newCA)
	carol.Expect("*** Choose a nickname")
}

// logRecord finds the next JSON log line whose msg is msg.
func logRecord(t *testing.T, s *testproc.Chatd, msg string) map[string]any {
	t.Helper()
	line := s.Expect(`"msg":"` + msg + `"`)
	var rec map[string]any
	if err := json.Unmarshal([]byte(line[strings.Index(line, "{"):]), &rec); err != nil {
		t.Fatalf("log line %q is not JSON: %v", line, err)
	}
	return rec
}

func TestJSONLogsCarryTheConnection(t *testing.T) {
	requireOpenSSL(t)
	s := startChatd(t, t.TempDir(), "--log-format", "json")
	if !strings.Contains(s.Output(), `"level":"INFO","msg":"generated a self-signed certificate"`) {
		t.Errorf("no JSON record of the generated certificate:\n%s", s.Output())
	}
	alice := s.JoinWithOpenSSL(t, "alice")
	alice.Send("a private thought")
	alice.Send("/quit")
	alice.Expect("*** Goodbye.")

	opened := logRecord(t, s, "connection opened")
	closed := logRecord(t, s, "connection closed")
	if opened["transport"] != "tls" || opened["remote"] == "" {
		t.Errorf("opened record %v", opened)
	}
	want := map[string]any{"transport": "tls", "nick": "alice", "reason": "quit", "tls_version": "TLS 1.3", "cipher": "TLS_AES_128_GCM_SHA256", "group": "X25519"}
	for k, v := range want {
		if closed[k] != v {
			t.Errorf("closed record %s = %v, want %v (record %v)", k, closed[k], v, closed)
		}
	}
	for _, k := range []string{"bytes_in", "bytes_out", "duration_seconds"} {
		if n, ok := closed[k].(float64); !ok || n <= 0 {
			t.Errorf("closed record %s = %v, want a positive number", k, closed[k])
		}
	}
	if strings.Contains(s.Output(), "a private thought") {
		t.Error("a message body was logged without --log-messages")
	}
}

func TestLogMessagesLogsBodies(t *testing.T) {
	requireOpenSSL(t)
	s := startChatd(t, t.TempDir(), "--log-messages")
	alice := s.JoinWithOpenSSL(t, "alice")
	alice.Send("for the lab notebook")
	if line := s.Expect("for the lab notebook"); !strings.Contains(line, "from=alice") || !strings.Contains(line, "kind=chat") {
		t.Errorf("message log line %q", line)
	}
}

func TestSystemdUnit(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd); the unit was not checked")
	}
	unit, err := os.ReadFile("../../deploy/chatd.service")
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart exists: point it at the binary just built.
	path := filepath.Join(t.TempDir(), "chatd.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/chatd", chatdBinary)), 0o644)
	for _, want := range []string{"\nDocumentation=file:/usr/local/share/doc/chatd/README.md", "\nEnvironment=CHATD_PUBLIC_DIR=%t/chatd\n",
		"\nRuntimeDirectory=chatd\n", "\nRuntimeDirectoryMode=0755\n"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
	if out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command("systemd-analyze", "security", "--offline=yes", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	var score float64
	for line := range strings.Lines(string(out)) {
		if rest, ok := strings.CutPrefix(line, "→ Overall exposure level for chatd.service: "); ok {
			fmt.Sscan(rest, &score)
		}
	}
	if score == 0 || score > 2.0 {
		t.Errorf("exposure score %.1f, want at most 2.0 (README says 1.4):\n%s", score, out)
	}
}

// httpGet fetches url and returns the body.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return string(body)
}

// metric returns the value of one series, such as
// `chatd_connections_open{transport="tls"}`, in a Prometheus text page.
func metric(page, series string) (float64, bool) {
	for line := range strings.Lines(page) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			_, err := fmt.Sscan(rest, &v)
			return v, err == nil
		}
	}
	return 0, false
}

func TestMetricsMoveWithTraffic(t *testing.T) {
	requireOpenSSL(t)
	s := startChatd(t, t.TempDir(), "--metrics-addr", "127.0.0.1:0", "--flood-burst", "5", "--flood-queue", "1", "--flood-kick", "100")
	if got := httpGet(t, s.MetricsURL+"/healthz"); got != "ok\n" {
		t.Errorf("/healthz = %q", got)
	}
	alice := s.JoinWithOpenSSL(t, "alice")
	bob := s.JoinWithOpenSSL(t, "bob")
	for i := range 8 { // 5 pass, 1 waits its turn, 2 are dropped by flood control
		alice.Send(fmt.Sprint("message ", i))
	}
	bob.Expect("<alice> message 4")
	alice.Expect("!!! 2 lines dropped: at most 1 line waits its turn")
	bob.Expect("<alice> message 5")
	plain, err := net.Dial("tcp", "127.0.0.1:"+s.Port)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(plain, "GET / HTTP/1.0\r\n\r\n")
	io.ReadAll(plain)
	plain.Close()

	want := map[string]float64{
		`chatd_members`:                                                2,
		`chatd_joins_total`:                                            2,
		`chatd_messages_total`:                                         6,
		`chatd_connections_open{transport="tls"}`:                      2,
		`chatd_rejected_lines_total{reason="flood"}`:                   2,
		`chatd_queued_lines_total`:                                     1,
		`chatd_tls_handshakes_total{group="X25519",version="TLS 1.3"}`: 2,
		`chatd_tls_handshake_failures_total{reason="not tls"}`:         1,
	}
	deadline := time.Now().Add(testproc.Wait)
	for {
		page := httpGet(t, s.MetricsURL+"/metrics")
		var wrong []string
		for series, v := range want {
			if got, ok := metric(page, series); !ok || got != v {
				wrong = append(wrong, fmt.Sprintf("%s = %v (want %v)", series, got, v))
			}
		}
		if d, ok := metric(page, "chatd_deliveries_total"); !ok || d < 5 {
			wrong = append(wrong, fmt.Sprintf("chatd_deliveries_total = %v", d))
		}
		if _, ok := metric(page, "go_goroutines"); !ok {
			wrong = append(wrong, "no go_goroutines")
		}
		if len(wrong) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics did not settle:\n%s", strings.Join(wrong, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCertbotDeployHook(t *testing.T) {
	dir := t.TempDir()
	live, state, bin := filepath.Join(dir, "live"), filepath.Join(dir, "state"), filepath.Join(dir, "bin")
	for _, d := range []string{live, state, bin} {
		os.MkdirAll(d, 0o700)
	}
	os.WriteFile(filepath.Join(live, "fullchain.pem"), []byte("CHAIN"), 0o644)
	os.WriteFile(filepath.Join(live, "privkey.pem"), []byte("KEY"), 0o600)
	calls := filepath.Join(dir, "systemctl-calls")
	os.WriteFile(filepath.Join(bin, "systemctl"), []byte("#!/bin/sh\necho \"$@\" >> "+calls+"\n"), 0o755)

	hook := func() ([]byte, error) {
		cmd := exec.Command("sh", "../../deploy/certbot-deploy-hook")
		cmd.Env = append(os.Environ(), "RENEWED_LINEAGE="+live, "CHATD_STATE_DIR="+state, "PATH="+bin+":"+os.Getenv("PATH"))
		return cmd.CombinedOutput()
	}
	if out, err := hook(); err != nil {
		t.Fatalf("hook: %v\n%s", err, out)
	}
	for name, want := range map[string]struct {
		body string
		mode os.FileMode
	}{"tls-cert.pem": {"CHAIN", 0o644}, "tls-key.pem": {"KEY", 0o600}} {
		path := filepath.Join(state, name)
		body, err := os.ReadFile(path)
		info, _ := os.Stat(path)
		if err != nil || string(body) != want.body || info.Mode().Perm() != want.mode {
			t.Errorf("%s: %v %q mode %v", name, err, body, info.Mode())
		}
	}
	if got, _ := os.ReadFile(calls); strings.TrimSpace(string(got)) != "try-reload-or-restart chatd" {
		t.Errorf("systemctl was called with %q, want try-reload-or-restart chatd", got)
	}
	os.RemoveAll(state)
	if out, err := hook(); err == nil || !strings.Contains(string(out), "start chatd once") {
		t.Errorf("with no state directory yet the hook says %q (%v)", out, err)
	}
}

// TestPprofIsOffUnlessAsked: the profiler shows memory contents and costs
// CPU, so /debug/pprof/ is served only with --pprof, and --pprof without a
// metrics address is refused.
func TestPprofIsOffUnlessAsked(t *testing.T) {
	status := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	off := startChatd(t, t.TempDir(), "--metrics-addr", "127.0.0.1:0", "--ssh-addr", "")
	if got := status(off.MetricsURL + "/debug/pprof/"); got != http.StatusNotFound {
		t.Errorf("without --pprof, /debug/pprof/ answers %d, want 404", got)
	}
	if got := status(off.MetricsURL + "/metrics"); got != http.StatusOK {
		t.Errorf("/metrics answers %d", got)
	}
	on := startChatd(t, t.TempDir(), "--metrics-addr", "127.0.0.1:0", "--ssh-addr", "", "--pprof")
	if got := status(on.MetricsURL + "/debug/pprof/"); got != http.StatusOK {
		t.Errorf("with --pprof, /debug/pprof/ answers %d, want 200", got)
	}
	out, err := exec.Command(chatdBinary, "--pprof", "--data-dir", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--pprof serves on --metrics-addr") {
		t.Errorf("--pprof without --metrics-addr: %v, output %q", err, out)
	}
}
