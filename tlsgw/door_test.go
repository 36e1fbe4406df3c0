package tlsgw

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"chatd/access"
	"chatd/certs"
	"chatd/internal/metricstest"
	"chatd/proto"
	"chatd/room"
)

// banDoor is a door of the test's own: it refuses the certificates in
// banned, and a connection without one if bareRefused is set, with
// refusal; it records who it was asked about.
type banDoor struct {
	refusal     *access.Refusal
	banned      map[string]bool // certificate fingerprints
	bareRefused bool

	mu    sync.Mutex
	asked []room.Identity
}

func (d *banDoor) Admit(id room.Identity) error {
	d.mu.Lock()
	d.asked = append(d.asked, id)
	d.mu.Unlock()
	if d.banned[id.CertFingerprint] || id.CertFingerprint == "" && d.bareRefused {
		return d.refusal
	}
	return nil
}

func (d *banDoor) identities() []room.Identity {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]room.Identity(nil), d.asked...)
}

// opensslCert makes a self-signed ed25519 client certificate with
// openssl req -x509, as the issue tells s_client users to, and returns
// its certificate and key files and its fingerprint.
func opensslCert(t *testing.T) (certFile, keyFile, fingerprint string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "me.pem"), filepath.Join(dir, "me.key")
	out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", keyFile, "-out", certFile,
		"-days", "1", "-subj", "/CN=mallory").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		t.Fatal("openssl req wrote no PEM certificate")
	}
	return certFile, keyFile, certs.Fingerprint(block.Bytes)
}

// sClient connects with the real openssl s_client (-quiet: it reads what
// the server says until the server closes), presenting certFile and
// keyFile if given, and returns what it printed.
func sClient(t *testing.T, ts *testServer, certFile, keyFile string) string {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(ca, ts.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"s_client", "-quiet", "-verify_return_error", "-verify_hostname", "localhost", "-servername", "localhost",
		"-connect", ts.addr, "-CAfile", ca}
	if certFile != "" {
		args = append(args, "-cert", certFile, "-key", keyFile)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTime)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run() // its exit status after the server closes says nothing here
	if ctx.Err() != nil {
		t.Fatalf("openssl s_client did not end when the server closed: %q, %q", stdout.String(), stderr.String())
	}
	return stdout.String()
}

// TestRefusedAtTheDoorWithOpenSSL: a client the door refuses, with a
// certificate made by openssl req -x509 and presented with s_client
// -cert/-key or with no certificate at all, is sent one line, the
// refusal, which the codec reads back as a final ReasonRefused farewell;
// the connection closes, nothing joined the room, and the refusal is
// counted in the log and the metrics. A client the door admits joins as
// before.
func TestRefusedAtTheDoorWithOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("this test needs openssl")
	}
	certFile, keyFile, fp := opensslCert(t)
	text := "you are banned until 2026-12-01 18:00:00 UTC: spam"
	door := &banDoor{
		refusal:     &access.Refusal{Kind: access.RefusedBanned, Reason: "spam", Until: time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC), Text: text},
		banned:      map[string]bool{fp: true},
		bareRefused: true,
	}
	var log lockedBuffer
	ts := startServer(t, Config{Door: door, Logger: slog.New(slog.NewJSONHandler(&log, nil))})
	watcherCert := clientCert(t)
	ts.joinWith(t, "watcher", &watcherCert) // a certificate the door admits

	for name, files := range map[string][2]string{"with its certificate": {certFile, keyFile}, "without a certificate": {}} {
		out := sClient(t, ts, files[0], files[1])
		want := "!!! disconnected: refused: " + text + "\n"
		if out != want {
			t.Errorf("%s: s_client printed %q, want %q", name, out, want)
			continue
		}
		ev := proto.ParseLine(strings.TrimSuffix(out, "\n"), time.Now())
		if ev.Kind != room.Bye || ev.Reason.Kind != room.ReasonRefused || ev.Reason.Detail != text || !ev.Reason.Final() {
			t.Errorf("%s: the line parses as %+v, want a final ReasonRefused Bye", name, ev)
		}
	}
	asked := door.identities()
	var sawCert bool
	for _, id := range asked[1:] { // after the watcher
		sawCert = sawCert || id.CertFingerprint == fp
		if id.Transport != room.TransportTLS || id.Address != "127.0.0.1" {
			t.Errorf("the door was asked about %+v", id)
		}
	}
	if len(asked) != 3 || !sawCert {
		t.Errorf("the door never saw the certificate %s: %+v", fp, asked)
	}
	if n := ts.room.Who().Count; n != 1 {
		t.Errorf("%d members after the refusals, want the watcher only", n)
	}
	if st := ts.srv.Stats(); !maps.Equal(st.Refused, map[string]uint64{RefusedBanned: 2}) {
		t.Errorf("Stats.Refused = %v, want 2 banned", st.Refused)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := ts.srv.Register(reg); err != nil {
		t.Fatal(err)
	}
	if _, series, err := metricstest.Gather(reg); err != nil || series[`chatd_door_refusals_total{class="banned",transport="tls"}`] != 2 {
		t.Errorf("metrics: %v, %v", series, err)
	}
	// The server logs a connection's end once it has closed it, which may
	// be after s_client, told the refusal, has exited.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		refused := 0
		for _, rec := range log.records(t, "connection closed") {
			if rec["reason"] == "refused: banned" {
				refused++
			}
		}
		if refused == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connection records say refused: banned, want 2:\n%s", refused, log.String())
		}
	}
}

// doorFunc is a door answering with a function.
type doorFunc func(room.Identity) error

func (f doorFunc) Admit(id room.Identity) error { return f(id) }

// TestRefusalIsOneCleanLine: whatever words the door answers with, the
// client is told them on one line, without anything its terminal would
// act on, and at most access.MaxRefusalBytes of them; a policy refusal that
// would fail an SSH authentication is told over TLS all the same, and an
// error that is not an *access.Refusal is counted as "other".
func TestRefusalIsOneCleanLine(t *testing.T) {
	answers := []error{
		&access.Refusal{Kind: access.RefusedByPolicy, FailAuth: true, Text: "only registered\nmembers \x1b[31mmay join"},
		errors.New(strings.Repeat("é", access.MaxRefusalBytes)),
	}
	var next int
	var mu sync.Mutex
	ts := startServer(t, Config{Door: doorFunc(func(room.Identity) error {
		mu.Lock()
		defer mu.Unlock()
		next++
		return answers[next-1]
	})})
	for i, want := range []string{
		"!!! disconnected: refused: only registeredmembers may join",
		"!!! disconnected: refused: " + strings.Repeat("é", access.MaxRefusalBytes/2) + "…",
	} {
		conn, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: ts.roots, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
		if lines := c.expectClosed(); len(lines) != 1 || lines[0] != want {
			t.Errorf("refusal %d: got %q, want %q", i, lines, want)
		}
		conn.Close()
	}
	if st := ts.srv.Stats(); !maps.Equal(st.Refused, map[string]uint64{RefusedPolicy: 1, RefusedOther: 1}) {
		t.Errorf("Stats.Refused = %v", st.Refused)
	}
}
