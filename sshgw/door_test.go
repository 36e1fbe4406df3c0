package sshgw

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	gossh "golang.org/x/crypto/ssh"

	"chatd/access"
	"chatd/internal/metricstest"
	"chatd/room"
)

// fakeDoor is a door of the test's own, with fixed answers: the keys in
// refused get their refusal, a connection without a key gets bare (nil
// admits it), every other key is admitted. It records who it was asked
// about.
type fakeDoor struct {
	mu      sync.Mutex
	refused map[string]error // by key fingerprint
	other   error            // for keys not in refused
	bare    error            // for a connection without a key
	asked   []room.Identity
}

func (d *fakeDoor) Admit(id room.Identity) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked = append(d.asked, id)
	switch err, ok := d.refused[id.KeyFingerprint]; {
	case id.KeyFingerprint == "":
		return d.bare
	case ok:
		return err
	}
	return d.other
}

func (d *fakeDoor) refuse(fingerprint string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refused == nil {
		d.refused = make(map[string]error)
	}
	d.refused[fingerprint] = err
}

func (d *fakeDoor) questions() []room.Identity {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.asked)
}

// fakeConsole is a console of the test's own: operators (by key) get
// answers[first word], or a usage error for a word it does not know;
// anyone else gets permission denied. It records what it was asked.
type fakeConsole struct {
	operators map[string]bool
	answers   map[string][]string

	mu    sync.Mutex
	calls []consoleCall
}

type consoleCall struct {
	id   room.Identity
	args []string
}

func (c *fakeConsole) Run(_ context.Context, id room.Identity, args []string) ([]string, error) {
	c.mu.Lock()
	c.calls = append(c.calls, consoleCall{id, slices.Clone(args)})
	c.mu.Unlock()
	if !c.operators[id.KeyFingerprint] {
		return nil, fmt.Errorf("%w: %s is for the room's operators only", access.ErrPermissionDenied, args[0])
	}
	out, ok := c.answers[args[0]]
	if !ok {
		return nil, fmt.Errorf("%w: no command %s", room.ErrUsage, args[0])
	}
	return out, nil
}

func (c *fakeConsole) asked() []consoleCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

// userKey makes a key with ssh-keygen and returns its file and its
// fingerprint as ssh-keygen -lf prints it.
func userKey(t *testing.T, name string) (file, fingerprint string) {
	t.Helper()
	file = filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	out, err := exec.Command("ssh-keygen", "-lf", file+".pub").Output()
	fields := strings.Fields(string(out))
	if err != nil || len(fields) < 2 || !strings.HasPrefix(fields[1], "SHA256:") {
		t.Fatalf("ssh-keygen -lf: %v, %q", err, out)
	}
	return file, fields[1]
}

// sshResult is what a run of the real ssh printed and its exit status.
type sshResult struct {
	stdout, stderr string
	status         int
}

// runSSH runs the real ssh as user with the key in keyFile only (no
// agent, no configuration, no other keys), trusting exactly the server's
// host key, with args after the destination (a command, or nothing).
// opts come before the destination; ssh logs errors only, unless opts
// set LogLevel (which must be let through to see the authentication
// banner).
func (ts *testServer) runSSH(t *testing.T, user, keyFile string, opts []string, args ...string) sshResult {
	t.Helper()
	pub, err := os.ReadFile(ts.srv.HostKeyPublicPath())
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ts.addr)
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(knownHosts, []byte("["+host+"]:"+port+" "+string(pub)), 0o600); err != nil {
		t.Fatal(err)
	}
	line := []string{"-F", "/dev/null", "-p", port, "-i", keyFile, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10"}
	if !slices.ContainsFunc(opts, func(o string) bool { return strings.HasPrefix(o, "LogLevel=") }) {
		line = append(line, "-o", "LogLevel=ERROR")
	}
	line = append(append(line, opts...), user+"@"+host)
	line = append(line, args...)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", line...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("ssh %v did not end: %q %q", args, stdout.String(), stderr.String())
	}
	status := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		status = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("ssh: %v", err)
	}
	return sshResult{stdout.String(), stderr.String(), status}
}

// notListed is the allowlist's refusal: it fails the authentication.
var notListed = &access.Refusal{Kind: access.RefusedByPolicy, Text: "this room admits listed keys only", FailAuth: true}

// banned is a timed ban's refusal: told, not failed.
var banned = &access.Refusal{Kind: access.RefusedBanned, Reason: "spam", Until: time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC),
	Text: "you are banned until 2026-12-01 18:00:00 UTC: spam"}

// TestUnlistedKeyFailsAuthentication: a key the door refuses with
// FailAuth (the allowlist) never authenticates: the real ssh exits 255
// with "Permission denied", nothing reaches the room, and the refusal is
// counted and logged. A listed key still gets in.
func TestUnlistedKeyFailsAuthentication(t *testing.T) {
	checkGoroutines(t)
	unlisted, unlistedFP := userKey(t, "mallory")
	listed, _ := userKey(t, "alice")
	door := &fakeDoor{bare: notListed}
	door.refuse(unlistedFP, notListed)
	var log logBuffer
	ts := startServerWith(t, Config{Door: door, Logger: slog.New(slog.NewJSONHandler(&log, nil))})

	res := ts.runSSH(t, "mallory", unlisted, nil, "who")
	if res.status != 255 || !strings.Contains(res.stderr, "Permission denied") || res.stdout != "" {
		t.Errorf("unlisted key: exit %d, stdout %q, stderr %q; want 255 and Permission denied", res.status, res.stdout, res.stderr)
	}
	if strings.Contains(res.stderr, notListed.Text) {
		t.Errorf("a failed authentication told the client why: %q", res.stderr)
	}
	if res := ts.runSSH(t, "alice", listed, nil, "who"); res.status != 0 || res.stdout != emptyRoomText {
		t.Errorf("listed key: exit %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	}
	var sawUnlisted bool
	for _, id := range door.questions() {
		sawUnlisted = sawUnlisted || id.KeyFingerprint == unlistedFP
		if id.Transport != room.TransportSSH || id.Address != "127.0.0.1" {
			t.Errorf("the door was asked about %+v", id)
		}
	}
	if !sawUnlisted {
		t.Errorf("the door was never asked about %s: %+v", unlistedFP, door.questions())
	}
	waitFor(t, "both connections' log records", func() bool { return len(logRecords(t, log.String(), "connection closed")) == 2 })
	var reasons []any
	for _, rec := range logRecords(t, log.String(), "connection closed") {
		reasons = append(reasons, rec["reason"])
	}
	if !slices.Contains(reasons, any("refused: policy")) {
		t.Errorf("the connections closed for %v; want one refused: policy", reasons)
	}
	// One connection refused, however many attempts it made.
	if got := ts.srv.Stats().Refused; !maps.Equal(got, map[string]uint64{RefusedPolicy: 1}) {
		t.Errorf("Stats.Refused = %v, want one policy refusal", got)
	}
}

// TestBannedKeyIsToldWhyAndExits: a key the door refuses without
// FailAuth (a ban) authenticates, and then every kind of session, an
// exec command, a shell without a terminal and the chat screen, is told
// "*** " and the refusal, with until when, and ends with exit status 1
// before anything joins the room; the refusals are counted in the
// metrics.
func TestBannedKeyIsToldWhyAndExits(t *testing.T) {
	checkGoroutines(t)
	key, fp := userKey(t, "mallory")
	door := &fakeDoor{}
	door.refuse(fp, banned)
	ts := startServerWith(t, Config{Door: door})
	joins, _ := ts.room.Join("watcher", room.JoinOptions{})
	defer joins.Leave(room.Reason{Kind: room.ReasonQuit})

	for name, args := range map[string][]string{"exec": {"who"}, "no terminal": {}} {
		opts := []string{"-T"}
		res := ts.runSSH(t, "mallory", key, opts, args...)
		if res.status != 1 || !strings.Contains(res.stderr, "*** "+banned.Text+"\n") || res.stdout != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 1 and %q", name, res.status, res.stdout, res.stderr, banned.Text)
		}
	}
	// The chat screen: a terminal, as ssh -t opens it.
	res := ts.runSSH(t, "mallory", key, []string{"-tt"})
	if res.status != 1 || !strings.Contains(res.stdout, "*** "+banned.Text) {
		t.Errorf("terminal: exit %d, stdout %q, stderr %q; want 1 and %q", res.status, res.stdout, res.stderr, banned.Text)
	}
	if n := ts.room.Who().Count; n != 1 {
		t.Errorf("%d members, want the watcher only", n)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := ts.srv.Register(reg); err != nil {
		t.Fatal(err)
	}
	if _, series, err := metricstest.Gather(reg); err != nil || series[`chatd_door_refusals_total{class="banned",transport="ssh"}`] != 3 {
		t.Errorf("metrics: %v, %v; want 3 banned", series, err)
	}
}

// TestBanBetweenAuthenticationAndSession: the door is asked again when a
// session starts, so a ban that came after the connection authenticated
// still keeps its next session out.
func TestBanBetweenAuthenticationAndSession(t *testing.T) {
	checkGoroutines(t)
	door := &fakeDoor{}
	ts := startServerWith(t, Config{Door: door})
	c := ts.dial(t, "mallory")
	defer c.Close()
	if res := run(t, c, "who", false); res.status != 0 {
		t.Fatalf("before the ban: %+v", res)
	}
	door.mu.Lock()
	door.other = banned
	door.mu.Unlock()
	if res := run(t, c, "who", false); res.status != 1 || res.stderr != "*** "+banned.Text+"\n" || res.stdout != "" {
		t.Errorf("after the ban: %+v", res)
	}
}

// TestConsoleRunsAdminCommands: an exec command that is not chatd's own
// goes to the console with its words and the identity of the key ssh
// signed in with; its answer is printed with exit status 0, a
// permission-denied error as "error: ..." with exit status 1, a usage
// error with 2, and a command over the bounds never reaches the console.
func TestConsoleRunsAdminCommands(t *testing.T) {
	checkGoroutines(t)
	admin, adminFP := userKey(t, "alice")
	other, otherFP := userKey(t, "bob")
	console := &fakeConsole{
		operators: map[string]bool{adminFP: true},
		answers:   map[string][]string{"ban": {"*** mallory was banned by alice for 1h: spam", "tab\there \x1b[31mred"}},
	}
	ts := startServerWith(t, Config{Console: console})

	res := ts.runSSH(t, "alice", admin, nil, "ban", "mallory", "1h", "spam")
	if res.status != 0 || res.stdout != "*** mallory was banned by alice for 1h: spam\ntab\there [31mred\n" {
		t.Errorf("ban: exit %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	}
	calls := console.asked()
	if len(calls) != 1 || !slices.Equal(calls[0].args, []string{"ban", "mallory", "1h", "spam"}) ||
		calls[0].id.KeyFingerprint != adminFP || calls[0].id.Transport != room.TransportSSH || calls[0].id.Address != "127.0.0.1" {
		t.Errorf("the console was asked %+v; want ban mallory 1h spam by %s", calls, adminFP)
	}

	res = ts.runSSH(t, "bob", other, nil, "ban", "alice")
	if res.status != 1 || res.stdout != "" || res.stderr != "error: permission denied: ban is for the room's operators only\n" {
		t.Errorf("non-operator: exit %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	}
	if calls := console.asked(); len(calls) != 2 || calls[1].id.KeyFingerprint != otherFP {
		t.Errorf("the console was asked %+v", calls)
	}
	res = ts.runSSH(t, "alice", admin, nil, "frobnicate")
	if res.status != 2 || !strings.HasPrefix(res.stderr, "error: usage") {
		t.Errorf("usage error: exit %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	}

	c := ts.dial(t, "alice")
	defer c.Close()
	before := len(console.asked())
	for name, text := range map[string]string{
		"17 words": strings.Repeat("w ", maxConsoleWords+1),
		"too long": "ban " + strings.Repeat("x", maxConsoleBytes),
	} {
		if res := run(t, c, text, false); res.status != 2 || !strings.HasPrefix(res.stderr, "error: usage") {
			t.Errorf("%s: %+v", name, res)
		}
	}
	if after := len(console.asked()); after != before {
		t.Errorf("commands over the bounds reached the console (%d calls)", after-before)
	}
}

// TestHelpListsTheConsoleToOperators: with a console, help lists its
// commands to those it answers (operators), under a heading and without
// those chatd answers itself (who, help), and only chatd's own to everyone
// else.
func TestHelpListsTheConsoleToOperators(t *testing.T) {
	checkGoroutines(t)
	admin, adminFP := userKey(t, "alice")
	other, _ := userKey(t, "bob")
	console := &fakeConsole{
		operators: map[string]bool{adminFP: true},
		answers:   map[string][]string{"help": {"who  List the members.", "ban NICK [DURATION] [REASON]", "help  List these commands."}},
	}
	ts := startServerWith(t, Config{Console: console})
	res := ts.runSSH(t, "alice", admin, nil, "help")
	if res.status != 0 || !strings.Contains(res.stdout, "  who ") || !strings.Contains(res.stdout, "Admin commands (you are one of the room's owners or operators):\n  ban NICK [DURATION] [REASON]\nTo chat") {
		t.Errorf("operator's help: exit %d, %q", res.status, res.stdout)
	}
	res = ts.runSSH(t, "bob", other, nil, "help")
	if res.status != 0 || !strings.Contains(res.stdout, "  who ") || strings.Contains(res.stdout, "Admin") || strings.Contains(res.stdout, "denied") {
		t.Errorf("non-operator's help: exit %d, %q", res.status, res.stdout)
	}
}

// TestDoorQuestionsPerConnectionAreBounded: a client that offers key
// after key, all refused, is disconnected, and asks the door at most
// maxAdmitsPerConn times on one connection.
func TestDoorQuestionsPerConnectionAreBounded(t *testing.T) {
	checkGoroutines(t)
	door := &fakeDoor{other: notListed, bare: notListed}
	ts := startServerWith(t, Config{Door: door})
	signers := make([]gossh.Signer, 50)
	for i := range signers {
		signers[i] = newClientKey(t)
	}
	if c, err := ts.dialWith("mallory", gossh.PublicKeys(signers...), noQuestions, gossh.PublicKeys(signers...)); err == nil {
		c.Close()
		t.Fatal("refused keys got in")
	}
	n := len(door.questions())
	t.Logf("the door was asked %d times", n)
	if n == 0 || n > maxAdmitsPerConn {
		t.Errorf("one connection asked the door %d times; at most %d", n, maxAdmitsPerConn)
	}
}

// TestNoneAuthAsksTheDoor: with NoneAuth, a client that shows nothing is
// asked about like any other; refused with FailAuth, it may still sign
// in with a key the door admits, and is then known by that key.
func TestNoneAuthAsksTheDoor(t *testing.T) {
	checkGoroutines(t)
	door := &fakeDoor{bare: notListed}
	var log logBuffer
	ts := startServerWith(t, Config{NoneAuth: true, Door: door, Logger: slog.New(slog.NewJSONHandler(&log, nil))})
	if c, err := ts.dialWith("mallory"); err == nil {
		c.Close()
		t.Fatal("a client showing nothing got in past the door")
	}
	key := newClientKey(t)
	c, err := ts.dialWith("alice", gossh.PublicKeys(key))
	if err != nil {
		t.Fatalf("a key the door admits: %v", err)
	}
	c.Close()
	qs := door.questions()
	if len(qs) != 3 || qs[0].KeyFingerprint != "" || qs[1].KeyFingerprint != "" || qs[2].KeyFingerprint != gossh.FingerprintSHA256(key.PublicKey()) {
		t.Errorf("the door was asked %+v; want none, none, then alice's key", qs)
	}
	// mallory's connection was refused; alice's, refused "none" first,
	// was not.
	waitFor(t, "both connections' log records", func() bool { return len(logRecords(t, log.String(), "connection closed")) == 2 })
	if got := ts.srv.Stats().Refused; !maps.Equal(got, map[string]uint64{RefusedPolicy: 1}) {
		t.Errorf("Stats.Refused = %v, want one policy refusal", got)
	}
}

// TestAuthBanner: Config.AuthBanner is shown before authentication, so
// that the real ssh with a key the door refuses (the allowlist fails its
// authentication, telling nothing) prints on stderr how to get in;
// control characters in it are neutralised. Without it, no banner.
func TestAuthBanner(t *testing.T) {
	checkGoroutines(t)
	unlisted, unlistedFP := userKey(t, "mallory")
	door := &fakeDoor{bare: notListed}
	door.refuse(unlistedFP, notListed)
	const text = "This room admits allowlisted keys only.\nAsk an operator to /allow your key: `ssh-keygen -lf ~/.ssh/id_ed25519.pub` prints its fingerprint.\x1b[2J\n"
	ts := startServerWith(t, Config{Door: door, AuthBanner: text})
	verbose := []string{"-o", "LogLevel=INFO"}
	res := ts.runSSH(t, "mallory", unlisted, verbose, "who")
	if res.status != 255 || !strings.Contains(res.stderr, "Permission denied") {
		t.Errorf("unlisted key: exit %d, stderr %q; want 255 and Permission denied", res.status, res.stderr)
	}
	for _, want := range []string{"This room admits allowlisted keys only.", "ssh-keygen -lf ~/.ssh/id_ed25519.pub"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr %q lacks the banner's %q", res.stderr, want)
		}
	}
	if strings.Contains(res.stderr, "\x1b") {
		t.Errorf("the banner's escape reached the terminal: %q", res.stderr)
	}
	plain := startServerWith(t, Config{Door: door})
	if res := plain.runSSH(t, "mallory", unlisted, verbose, "who"); strings.Contains(res.stderr, "allowlisted") {
		t.Errorf("a banner without AuthBanner: %q", res.stderr)
	}
	if got := authBanner(strings.Repeat("x", 2*maxAuthBannerBytes)); got != "" {
		t.Errorf("an over-long banner line kept: %d bytes", len(got))
	}
}
