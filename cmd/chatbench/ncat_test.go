package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatd/certs"
	"chatd/internal/testproc"
)

// TestRunAgainstNcat measures `ncat --ssl --chat`, the baseline chatd is
// compared with: no nickname, a "<userN> " prefix, no echo.
func TestRunAgainstNcat(t *testing.T) {
	ncat, err := exec.LookPath("ncat")
	if err != nil {
		t.Skip("ncat is not installed (apt-get install ncat); skipping the ncat baseline test")
	}
	dir := t.TempDir()
	certPEM, keyPEM, err := certs.GenerateSelfSigned([]string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := certs.WriteKeyPair(dir, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	certFile := filepath.Join(dir, certs.CertFileName)
	pid := startNcat(t, ncat, "--ssl", "--chat", "-m", "100",
		"--ssl-cert", certFile, "--ssl-key", filepath.Join(dir, "key.pem"), "-l", "127.0.0.1", port)
	addr := net.JoinHostPort("localhost", port)

	cfg := defaultConfig()
	cfg.addr, cfg.ca, cfg.proto, cfg.pids = addr, certFile, protoRaw, pidList{pid}
	cfg.clients, cfg.rate, cfg.duration, cfg.settle = 10, 5, 2*time.Second, 200*time.Millisecond
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Proto != protoRaw {
		t.Errorf("proto %q", r.Proto)
	}
	checkFullDelivery(t, r, 10, 10, 5, 2)
	checkServerStats(t, r)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// startNcat runs ncat -v with args until the test ends, waits until it
// says it is listening, and returns its process id. (A test connection would
// not do: ncat --chat may quit when a client vanishes at the wrong moment.)
func startNcat(t *testing.T, ncat string, args ...string) int {
	t.Helper()
	cmd := exec.Command(ncat, append([]string{"-v"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ncat: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Listening on") {
				close(listening)
				break
			}
		}
		io.Copy(io.Discard, stderr) // ncat must never block on a full pipe
	}()
	select {
	case <-listening:
	case <-time.After(testproc.Wait):
		t.Fatalf("ncat did not say it was listening within %v", testproc.Wait)
	}
	return cmd.Process.Pid
}
