package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMitmRefusesTLSFlagsWithoutUpstream: --cert, --key and --keylog with
// only --ssh-upstream are refused (exit 2), not ignored.
func TestMitmRefusesTLSFlagsWithoutUpstream(t *testing.T) {
	t.Parallel()
	for _, flags := range [][]string{{"--keylog", "keys"}, {"--cert", "c.pem", "--key", "k.pem"}} {
		args := append([]string{"mitm", "--ssh-upstream", "127.0.0.1:1"}, flags...)
		out, err := exec.Command(chatdBinary, args...).CombinedOutput()
		if exitCode(err) != 2 || !strings.Contains(string(out), "--cert, --key and --keylog are for the TLS proxy: they need --upstream") {
			t.Errorf("chatd %s: exit %d, %s", strings.Join(args, " "), exitCode(err), out)
		}
	}
}

// TestMitmHelpSaysWhatChatdSees: --help says --max-conns is per listener
// and that chatd sees one address, and how to raise its per-address
// limits; its usage line shows --upstream as optional (--ssh-upstream
// alone works) and names --keylog and --max-conns.
func TestMitmHelpSaysWhatChatdSees(t *testing.T) {
	t.Parallel()
	out, _ := exec.Command(chatdBinary, "mitm", "--help").CombinedOutput()
	for _, want := range []string{"per listener (TLS and SSH each)", "chatd sees every client through the proxy as one address",
		"--max-conns-per-ip 200 --conn-burst-per-ip 200", "TLS client\ncertificates are not forwarded", "(default 32)",
		"chatd mitm [--upstream HOST:PORT", "[--keylog FILE]", "[--max-conns N]", "At least one of --upstream (TLS) and --ssh-upstream (SSH) is needed."} {
		if !strings.Contains(string(out), want) {
			t.Errorf("chatd mitm --help lacks %q:\n%s", want, out)
		}
	}
}

// TestMitmNoBannerBeforeItsCertificateLoads: a --cert that does not load
// is an error, with no banner printed.
func TestMitmNoBannerBeforeItsCertificateLoads(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not PEM"), 0o600)
	var stdout, stderr bytes.Buffer
	code := runMitm(context.Background(), []string{"--upstream", "127.0.0.1:1", "--listen", "127.0.0.1:0", "--cert", bad, "--key", bad}, &stdout, &stderr)
	if code != 1 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "load certificate "+bad) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}

// TestMitmClosesTLSWhenSSHFails: when the SSH proxy cannot start, the TLS
// proxy started before it is closed (its port free again) and no banner
// is printed.
func TestMitmClosesTLSWhenSSHFails(t *testing.T) {
	t.Parallel()
	s := startChatd(t, filepath.Join(t.TempDir(), "data"))
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a port for the TLS proxy, held until the run
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	var stdout, stderr bytes.Buffer
	code := runMitm(context.Background(), []string{"--upstream", s.Addr(), "--listen", listen, "--ssh-upstream", "127.0.0.1:1", "--ssh-listen", "127.0.0.1:0"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "cannot reach the SSH upstream 127.0.0.1:1") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("a banner for a proxy that did not start:\n%s", stdout.String())
	}
	again, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatalf("the TLS proxy's port %s is still held: %v", listen, err)
	}
	again.Close()
}
