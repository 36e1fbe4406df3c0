package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatd/internal/testproc"
)

// TestKeyLogWarnsEverywhere runs chatd --keylog: the file is created 0600
// and fills with NSS key log lines, and the banner, every log record about
// a TLS connection and the member's greeting say the session can be
// decrypted.
func TestKeyLogWarnsEverywhere(t *testing.T) {
	requireOpenSSL(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.log")
	s := startChatd(t, filepath.Join(dir, "data"), "--keylog", keys)
	if !strings.Contains(s.Output(), "WARNING: TLS key log ON: secrets go to "+keys) {
		t.Errorf("the banner does not warn about the key log:\n%s", s.Output())
	}
	alice := s.JoinWithOpenSSL(t, "alice")
	alice.Send("/quit")
	alice.WaitExit()
	s.Expect("connection closed")
	if !strings.Contains(alice.Output(), "WARNING: this server logs its TLS keys") {
		t.Errorf("the greeting does not warn about the key log:\n%s", alice.Output())
	}
	tlsLines := 0
	for line := range strings.Lines(s.Output()) {
		if strings.Contains(line, "transport=tls") {
			tlsLines++
			if !strings.Contains(line, "keylog="+keys) {
				t.Errorf("a log record about a TLS connection does not name the key log: %s", line)
			}
		}
	}
	if tlsLines < 3 { // opened, joined, closed
		t.Errorf("%d log records about the TLS connection, want at least 3:\n%s", tlsLines, s.Output())
	}
	testproc.CheckKeyLog(t, keys)
}

// TestKeyLogOffByDefault: without --keylog neither the banner nor the
// greeting nor the log speak of one.
func TestKeyLogOffByDefault(t *testing.T) {
	requireOpenSSL(t)
	s := startChatd(t, filepath.Join(t.TempDir(), "data"))
	alice := s.JoinWithOpenSSL(t, "alice")
	alice.Send("/quit")
	alice.WaitExit()
	s.Expect("connection closed")
	if out := s.Output() + alice.Output(); strings.Contains(out, "keylog=") || strings.Contains(out, "key log") || strings.Contains(out, "TLS keys") {
		t.Errorf("a key log is mentioned while it is off:\n%s\n%s", s.Output(), alice.Output())
	}
}

// TestKeyLogRefusesUnsafeFile: chatd does not start with a key log file an
// attacker could have planted (a symbolic link) or others can read.
func TestKeyLogRefusesUnsafeFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "open")
	os.WriteFile(open, nil, 0o600)
	os.Chmod(open, 0o666)
	for _, file := range []string{link, open} {
		p := testproc.Start(t, "chatd", nil, chatdBinary, "--data-dir", filepath.Join(dir, "data"), "--tls-addr", "127.0.0.1:0", "--ssh-addr", "", "--keylog", file)
		if code := p.WaitExit(); code == 0 {
			t.Errorf("chatd --keylog %s exited 0", file)
		}
		if !strings.Contains(p.Output(), "unsafe key log file") || strings.Contains(p.Output(), "TLS listening") {
			t.Errorf("chatd --keylog %s printed:\n%s", file, p.Output())
		}
	}
	if _, err := os.Stat(target); err == nil {
		t.Error("the symbolic link's target was created")
	}
}

// TestKeyLogDecryptsCapture captures a conversation on loopback with
// tcpdump: the capture holds only ciphertext, tshark shows nothing of the
// chat without the key log, and shows the chat line with it.
func TestKeyLogDecryptsCapture(t *testing.T) {
	requireOpenSSL(t)
	for _, tool := range []string{"tcpdump", "tshark"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (apt-get install tcpdump tshark; .ci/run installs them)", tool)
		}
	}
	dir := t.TempDir()
	keys, capture := filepath.Join(dir, "keys.log"), filepath.Join(dir, "chat.pcap")
	s := startChatd(t, filepath.Join(dir, "data"), "--keylog", keys)
	secret := "the password is " + rand.Text()
	captureChat(t, s, capture, secret)

	raw, err := os.ReadFile(capture)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatal("the capture holds the chat line in clear text")
	}
	if without := tsharkFollow(t, capture, s.Port, ""); strings.Contains(without, secret) {
		t.Errorf("tshark read the chat line without the key log:\n%s", without)
	}
	if with := tsharkFollow(t, capture, s.Port, keys); !strings.Contains(with, secret) {
		t.Errorf("tshark did not decrypt the chat line with the key log:\n%s", with)
	}
}

// waitCapturing waits until tcpdump captures, or skips the test if it may
// not (no permission to capture here).
func waitCapturing(t *testing.T, dump *testproc.Process) {
	t.Helper()
	deadline := time.Now().Add(testproc.Wait)
	for time.Now().Before(deadline) {
		out := dump.Output()
		switch {
		case strings.Contains(out, "listening on lo"):
			return
		case strings.Contains(out, "ermission denied") || strings.Contains(out, "Operation not permitted"):
			t.Skipf("capturing on loopback is not permitted here: %s", strings.TrimSpace(out))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("tcpdump did not start capturing:\n%s", dump.Output())
}

// tsharkFollow returns tshark's decrypted view of the capture's first TCP
// streams (port decoded as TLS; a refused try of ::1 may come first), with
// the key log keys if it is set.
func tsharkFollow(t *testing.T, capture, port, keys string) string {
	t.Helper()
	args := []string{"-n", "-r", capture, "-d", "tcp.port==" + port + ",tls", "-q"}
	for stream := range 4 {
		args = append(args, "-z", fmt.Sprintf("follow,tls,ascii,%d", stream))
	}
	if keys != "" {
		args = append(args, "-o", "tls.keylog_file:"+keys)
	}
	out, err := exec.Command("tshark", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestKeyLogWarnsInJSON: with --log-format json the banner's warning is a
// WARN record, and connection records carry the key log's name.
func TestKeyLogWarnsInJSON(t *testing.T) {
	requireOpenSSL(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.log")
	s := startChatd(t, filepath.Join(dir, "data"), "--log-format", "json", "--keylog", keys)
	if !strings.Contains(s.Output(), `"level":"WARN","msg":"TLS key log on: sessions can be decrypted","keylog":"`+keys+`"`) {
		t.Errorf("no WARN record about the key log:\n%s", s.Output())
	}
	alice := s.JoinWithOpenSSL(t, "alice")
	if rec := s.Record(`"msg":"joined"`); rec["keylog"] != keys {
		t.Errorf("the joined record has keylog=%v, want %s", rec["keylog"], keys)
	}
	alice.Send("/quit")
	alice.WaitExit()
}

// TestKeyLogWarnRecordInTextMode: with text logs, the key log's warning is
// a WARN record on the log too, not only banner text.
func TestKeyLogWarnRecordInTextMode(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.log")
	s := startChatd(t, filepath.Join(dir, "data"), "--keylog", keys)
	if !strings.Contains(s.Output(), `level=WARN msg="TLS key log on: sessions can be decrypted" keylog=`+keys) {
		t.Errorf("no WARN record names the key log:\n%s", s.Output())
	}
}

// TestKeyLogReopenedOnHangup: a key log removed (rotated) while chatd runs
// is reported as deleted at SIGHUP and reopened by name: a new
// connection's secrets are in the new file. A reopen that is refused keeps
// the old file, with an ERROR record.
func TestKeyLogReopenedOnHangup(t *testing.T) {
	requireOpenSSL(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.log")
	s := startChatd(t, filepath.Join(dir, "data"), "--keylog", keys)
	alice := s.JoinWithOpenSSL(t, "alice")
	alice.Send("/quit")
	alice.WaitExit()
	if err := os.Remove(keys); err != nil {
		t.Fatal(err)
	}
	s.Signal(syscall.SIGHUP)
	s.Expect(`level=WARN msg="the TLS key log was deleted`)
	s.Expect(`msg="key log reopened"`)
	bob := s.JoinWithOpenSSL(t, "bob")
	bob.Send("/quit")
	bob.WaitExit()
	b, err := os.ReadFile(keys)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("CLIENT_TRAFFIC_SECRET_0 ")) {
		t.Errorf("the reopened key log holds no secrets of the new connection:\n%s", b)
	}

	// A symbolic link planted in its place is refused; the old file stays.
	if err := os.Rename(keys, keys+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "elsewhere"), keys); err != nil {
		t.Fatal(err)
	}
	s.Signal(syscall.SIGHUP)
	s.Expect(`level=ERROR msg="key log reopen failed; still writing to the old file"`)
	carol := s.JoinWithOpenSSL(t, "carol")
	carol.Send("/quit")
	carol.WaitExit()
	if b2, _ := os.ReadFile(keys + ".1"); len(b2) <= len(b) {
		t.Error("after a refused reopen, the old key log got no more secrets")
	}
	if _, err := os.Stat(filepath.Join(dir, "elsewhere")); err == nil {
		t.Error("the symbolic link's target was created")
	}
}
