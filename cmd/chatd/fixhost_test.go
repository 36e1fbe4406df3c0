package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatd/certs"
	"chatd/internal/testproc"
)

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
