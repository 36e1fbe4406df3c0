package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatd/internal/testproc"
)

// The end-to-end tests of docs/LAB.md's exercises: each runs the commands
// an exercise gives the student, with the same tools (tcpdump, tshark,
// sslscan, openssl s_client, chat) and arguments, on loopback, and checks
// what the exercise says the student sees. docs/LAB.md cites them by name
// (TestDocsNameRealTests checks that they exist).

// The TLS ports of the capture exercises: fixed, so that tcpdump can
// filter on them before chatd starts.
const (
	labSniffPort   = "18951"
	labDecryptPort = "18952"
)

// scannerGuard relaxes chatd's per-address connection guard for a scanner,
// which opens hundreds of connections a second from one address; the Harden
// exercise passes the same flags.
var scannerGuard = []string{"--conn-rate-per-ip", "10000", "--conn-burst-per-ip", "10000", "--max-conns-per-ip", "1000"}

// requireTools skips the test when one of the tools is not installed
// (.ci/run installs them all).
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (apt-get install %s; .ci/run installs it)", tool, tool)
		}
	}
}

// startCapture starts tcpdump on loopback writing the packets of TCP port
// port to file, and waits until it captures.
func startCapture(t *testing.T, file, port string) *testproc.Process {
	t.Helper()
	dump := testproc.Start(t, "tcpdump", nil, "tcpdump", "-i", "lo", "--immediate-mode", "-U", "-n", "-Z", "root", "-w", file, "tcp port "+port)
	waitCapturing(t, dump)
	return dump
}

// stopCapture waits until the capture in file holds the closing packets
// (a FIN from each side) of conns TCP connections, so that everything
// before them is in it too, then stops tcpdump.
func stopCapture(t *testing.T, dump *testproc.Process, file string, conns int) {
	t.Helper()
	for deadline := time.Now().Add(testproc.Wait); ; time.Sleep(50 * time.Millisecond) {
		// tcpdump -U writes whole packets, but the last may be cut while we
		// read: then tcpdump -r complains and prints those before it.
		fins, _ := exec.Command("tcpdump", "-n", "-r", file, "tcp[tcpflags] & tcp-fin != 0").Output()
		if bytes.Count(fins, []byte("\n")) >= 2*conns {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the capture never held the FINs of %d connections; it has:\n%s", conns, fins)
		}
	}
	dump.Signal(syscall.SIGINT)
	dump.WaitExit()
}

// tsharkFields runs tshark over capture, port decoded as TLS, printing
// fields of the packets filter selects, one line a packet.
func tsharkFields(t *testing.T, capture, port, filter string, fields ...string) []string {
	t.Helper()
	args := []string{"-n", "-r", capture, "-d", "tcp.port==" + port + ",tls", "-Y", filter, "-T", "fields"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(out)), "\t", "/"))
}

// TestLabSniff is the Sniff exercise: tcpdump on loopback records a chat
// between two openssl members. The chat line is neither in the capture's
// bytes nor in what tshark makes of it, but tshark shows what a sniffer
// does learn: the name asked for (SNI) in each ClientHello, and TLS 1.3
// with the suite in each ServerHello.
func TestLabSniff(t *testing.T) {
	requireOpenSSL(t)
	requireTools(t, "tcpdump", "tshark")
	dir := t.TempDir()
	capture := filepath.Join(dir, "chat.pcap")
	dump := startCapture(t, capture, labSniffPort)
	s := startChatd(t, filepath.Join(dir, "data"), "--tls-addr", "127.0.0.1:"+labSniffPort)
	secret := "meet me at the lab, the code is " + rand.Text()
	alice := s.JoinWithOpenSSL(t, "alice")
	bob := s.JoinWithOpenSSL(t, "bob")
	alice.Send(secret)
	bob.Expect("<alice> " + secret)
	for _, p := range []*testproc.Process{alice, bob} {
		p.Send("/quit")
		p.WaitExit()
	}
	stopCapture(t, dump, capture, 2)

	if raw, _ := os.ReadFile(capture); bytes.Contains(raw, []byte(secret)) {
		t.Fatal("the capture holds the chat line in clear text")
	}
	if out := tsharkFollow(t, capture, labSniffPort, ""); strings.Contains(out, secret) {
		t.Errorf("tshark read the chat line without keys:\n%s", out)
	}
	if sni := tsharkFields(t, capture, labSniffPort, "tls.handshake.type==1", "tls.handshake.extensions_server_name"); !slices.Equal(sni, []string{"localhost", "localhost"}) {
		t.Errorf("the ClientHellos name %q, want localhost twice", sni)
	}
	hellos := tsharkFields(t, capture, labSniffPort, "tls.handshake.type==2", "tls.handshake.extensions.supported_version", "tls.handshake.ciphersuite")
	if len(hellos) != 2 {
		t.Fatalf("tshark found %d ServerHellos, want 2: %q", len(hellos), hellos)
	}
	for _, h := range hellos {
		if !slices.Contains([]string{"0x0304/0x1301", "0x0304/0x1302", "0x0304/0x1303"}, h) {
			t.Errorf("a ServerHello reads %s, want TLS 1.3 (0x0304) and a TLS 1.3 suite", h)
		}
	}
}

// TestLabDecryptWithClientKeyLog is the Decrypt exercise on the client's
// side, as with a browser: chatd logs no keys, bob runs chat with
// SSLKEYLOGFILE, and tshark with bob's key log reads his chat line in the
// capture, which it cannot without.
func TestLabDecryptWithClientKeyLog(t *testing.T) {
	requireOpenSSL(t)
	requireTools(t, "tcpdump", "tshark")
	dir := t.TempDir()
	keys, capture := filepath.Join(dir, "keys.log"), filepath.Join(dir, "chat.pcap")
	dump := startCapture(t, capture, labDecryptPort)
	s := startChatd(t, filepath.Join(dir, "data"), "--tls-addr", "127.0.0.1:"+labDecryptPort)
	alice := s.JoinWithOpenSSL(t, "alice")
	bob := testproc.Start(t, "chat", []string{"SSLKEYLOGFILE=" + keys}, chatBinary, "--plain", "--ca", s.CertFile,
		"--nick", "bob", "--known-servers", filepath.Join(dir, "known"), s.Addr())
	bob.Expect("WARNING: TLS key log ON: secrets go to " + keys)
	alice.Expect("*** bob joined")
	secret := "the exam answers are " + rand.Text()
	bob.Send(secret)
	alice.Expect("<bob> " + secret)
	bob.CloseInput()
	bob.Expect("*** Goodbye.")
	bob.WaitExit()
	alice.Send("/quit")
	alice.WaitExit()
	stopCapture(t, dump, capture, 2)

	if raw, _ := os.ReadFile(capture); bytes.Contains(raw, []byte(secret)) {
		t.Fatal("the capture holds the chat line in clear text")
	}
	if out := tsharkFollow(t, capture, labDecryptPort, ""); strings.Contains(out, secret) {
		t.Errorf("tshark read the chat line without the key log:\n%s", out)
	}
	if out := tsharkFollow(t, capture, labDecryptPort, keys); !strings.Contains(out, secret) {
		t.Errorf("tshark did not decrypt bob's line with his key log:\n%s", out)
	}
}
