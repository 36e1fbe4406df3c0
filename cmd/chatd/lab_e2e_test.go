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
// (TestLabDocNamesRealTests checks that they exist).

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

// captureChat records, with tcpdump on lo, alice saying secret to bob
// over openssl s_client on s, from the handshakes to both goodbyes.
func captureChat(t *testing.T, s *testproc.Chatd, capture, secret string) {
	t.Helper()
	dump := startCapture(t, capture, s.Port) // before any client: the handshakes are in it
	alice := s.JoinWithOpenSSL(t, "alice")
	bob := s.JoinWithOpenSSL(t, "bob")
	alice.Send(secret)
	bob.Expect("<alice> " + secret)
	for _, p := range []*testproc.Process{alice, bob} {
		p.Send("/quit")
		p.WaitExit()
	}
	stopCapture(t, dump, capture, 2)
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
// with the suite in each ServerHello. The optional TLS 1.2 capture (openssl
// s_client -tls1_2) shows the server's certificate in clear, its subject
// (CN=localhost) readable, which the TLS 1.3 capture does not.
func TestLabSniff(t *testing.T) {
	requireOpenSSL(t)
	requireTools(t, "tcpdump", "tshark")
	dir := t.TempDir()
	capture := filepath.Join(dir, "chat.pcap")
	s := startChatd(t, filepath.Join(dir, "data"))
	secret := "meet me at the lab, the code is " + rand.Text()
	captureChat(t, s, capture, secret)

	if raw, _ := os.ReadFile(capture); bytes.Contains(raw, []byte(secret)) {
		t.Fatal("the capture holds the chat line in clear text")
	}
	if out := tsharkFollow(t, capture, s.Port, ""); strings.Contains(out, secret) {
		t.Errorf("tshark read the chat line without keys:\n%s", out)
	}
	if sni := tsharkFields(t, capture, s.Port, "tls.handshake.type==1", "tls.handshake.extensions_server_name"); !slices.Equal(sni, []string{"localhost", "localhost"}) {
		t.Errorf("the ClientHellos name %q, want localhost twice", sni)
	}
	hellos := tsharkFields(t, capture, s.Port, "tls.handshake.type==2", "tls.handshake.extensions.supported_version", "tls.handshake.ciphersuite")
	if len(hellos) != 2 {
		t.Fatalf("tshark found %d ServerHellos, want 2: %q", len(hellos), hellos)
	}
	for _, h := range hellos {
		if !slices.Contains([]string{"0x0304/0x1301", "0x0304/0x1302", "0x0304/0x1303"}, h) {
			t.Errorf("a ServerHello reads %s, want TLS 1.3 (0x0304) and a TLS 1.3 suite", h)
		}
	}

	// The optional step: one TLS 1.2 handshake, captured.
	capture12 := filepath.Join(dir, "tls12.pcap")
	dump := startCapture(t, capture12, s.Port)
	tls12 := exec.Command("openssl", "s_client", "-tls1_2", "-servername", "localhost", "-connect", "127.0.0.1:"+s.Port, "-CAfile", s.CertFile)
	if out, err := tls12.CombinedOutput(); err != nil { // stdin is empty: it hangs up after the handshake
		t.Fatalf("openssl s_client -tls1_2: %v\n%s", err, out)
	}
	stopCapture(t, dump, capture12, 1)
	const certSubject = "x509sat.printableString" // the certificate's subject and issuer names, as the doc's tshark prints them
	if names := tsharkFields(t, capture12, s.Port, "tls.handshake.type==11", certSubject); !strings.Contains(strings.Join(names, " "), "localhost") {
		t.Errorf("the TLS 1.2 capture does not show the certificate's CN localhost in clear: %q", names)
	}
	if names := tsharkFields(t, capture, s.Port, "tls.handshake.type==11", certSubject); len(names) != 0 {
		t.Errorf("the TLS 1.3 capture shows a certificate in clear: %q", names)
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
	s := startChatd(t, filepath.Join(dir, "data"))
	dump := startCapture(t, capture, s.Port) // before any client: the handshakes are in it
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
	if out := tsharkFollow(t, capture, s.Port, ""); strings.Contains(out, secret) {
		t.Errorf("tshark read the chat line without the key log:\n%s", out)
	}
	if out := tsharkFollow(t, capture, s.Port, keys); !strings.Contains(out, secret) {
		t.Errorf("tshark did not decrypt bob's line with his key log:\n%s", out)
	}
}

// TestLabForwardSecrecy is the Decrypt exercise's forward secrecy bonus:
// chatd with --tls-profile old and an RSA certificate; one openssl
// s_client session with RSA key exchange (AES128-GCM-SHA256) and one with
// ECDHE (ECDHE-RSA-AES128-GCM-SHA256), both TLS 1.2, in one capture.
// tshark with the RSA private key alone, and no key log, reads the first
// session's line and not the second's.
func TestLabForwardSecrecy(t *testing.T) {
	requireOpenSSL(t)
	requireTools(t, "tcpdump", "tshark")
	dir := t.TempDir()
	cert, key, capture := filepath.Join(dir, "rsa-cert.pem"), filepath.Join(dir, "rsa-key.pem"), filepath.Join(dir, "fs.pcap")
	gen := exec.Command("openssl", "req", "-x509", "-nodes", "-days", "30", "-newkey", "rsa:2048", "-keyout", key, "-out", cert,
		"-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	s := startChatd(t, filepath.Join(dir, "data"), "--tls-profile", "old", "--cert", cert, "--key", key)
	dump := startCapture(t, capture, s.Port) // before any client: the handshakes are in it
	session := func(nick, cipher, line string) {
		t.Helper()
		c := exec.Command("openssl", "s_client", "-quiet", "-tls1_2", "-cipher", cipher+":@SECLEVEL=0",
			"-servername", "localhost", "-connect", "127.0.0.1:"+s.Port, "-CAfile", cert)
		c.Stdin = strings.NewReader(nick + "\n" + line + "\n/quit\n")
		out, err := c.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "*** Goodbye.") {
			t.Fatalf("openssl s_client -cipher %s: %v\n%s", cipher, err, out)
		}
	}
	rsaLine, ecdheLine := "sent with RSA key exchange "+rand.Text(), "sent with ECDHE "+rand.Text()
	session("carol", "AES128-GCM-SHA256", rsaLine) // first, so that its join does not replay the ECDHE line
	session("dave", "ECDHE-RSA-AES128-GCM-SHA256", ecdheLine)
	stopCapture(t, dump, capture, 2)
	if log := s.Output(); !strings.Contains(log, "cipher=TLS_RSA_WITH_AES_128_GCM_SHA256") || !strings.Contains(log, "cipher=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256") {
		t.Fatalf("chatd did not log one session of each suite:\n%s", log)
	}

	args := []string{"-n", "-r", capture, "-d", "tcp.port==" + s.Port + ",tls", "-o", `uat:rsa_keys:"` + key + `",""`, "-q",
		"-z", "follow,tls,ascii,0", "-z", "follow,tls,ascii,1"}
	out, err := exec.Command("tshark", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if !strings.Contains(string(out), rsaLine) {
		t.Errorf("tshark with the RSA key did not decrypt the RSA key exchange session:\n%s", out)
	}
	if strings.Contains(string(out), ecdheLine) {
		t.Errorf("tshark with the RSA key alone decrypted the ECDHE session:\n%s", out)
	}
}

// A scan is what sslscan reports of a server: the protocol versions it
// enables, and the suites it accepts, as "TLSv1.2 ECDHE-ECDSA-AES128-SHA".
type scan struct {
	enabled []string
	suites  []string
}

// sslscan scans addr with sslscan, as the Harden exercise does.
func sslscan(t *testing.T, addr string) scan {
	t.Helper()
	out, err := exec.Command("sslscan", "--no-colour", addr).CombinedOutput()
	if err != nil {
		t.Fatalf("sslscan %s: %v\n%s", addr, err, out)
	}
	var sc scan
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && strings.HasPrefix(f[0], "TLSv") && f[1] == "enabled":
			sc.enabled = append(sc.enabled, f[0])
		case len(f) >= 5 && (f[0] == "Accepted" || f[0] == "Preferred") && f[3] == "bits":
			sc.suites = append(sc.suites, f[1]+" "+f[4])
		}
	}
	slices.Sort(sc.suites)
	return sc
}

// cbc tells whether a suite as sslscan names it is a CBC one: neither AEAD
// (GCM, ChaCha20-Poly1305) nor TLS 1.3's.
func cbc(suite string) bool {
	return !strings.Contains(suite, "GCM") && !strings.Contains(suite, "CHACHA20") && !strings.HasPrefix(suite, "TLSv1.3 ")
}

// The suites docs/LAB.md's table shows for each profile, with chatd's
// generated ECDSA certificate.
var (
	tls13Suites = []string{"TLSv1.3 TLS_AES_128_GCM_SHA256", "TLSv1.3 TLS_AES_256_GCM_SHA384", "TLSv1.3 TLS_CHACHA20_POLY1305_SHA256"}
	tls12AEAD   = []string{"TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256", "TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384", "TLSv1.2 ECDHE-ECDSA-CHACHA20-POLY1305"}
	oldCBC      = []string{"TLSv1.0 ECDHE-ECDSA-AES128-SHA", "TLSv1.0 ECDHE-ECDSA-AES256-SHA", "TLSv1.1 ECDHE-ECDSA-AES128-SHA", "TLSv1.1 ECDHE-ECDSA-AES256-SHA",
		"TLSv1.2 ECDHE-ECDSA-AES128-SHA", "TLSv1.2 ECDHE-ECDSA-AES128-SHA256", "TLSv1.2 ECDHE-ECDSA-AES256-SHA"}
)

// TestLabHarden is the Harden exercise: sslscan against chatd with each
// --tls-profile (and the scanner's guard flags) finds what docs/LAB.md's
// table says: old enables TLS 1.0 to 1.3 and CBC suites, intermediate TLS
// 1.2 and 1.3 with AEAD suites only, modern TLS 1.3 alone; old with an RSA
// certificate adds RSA key exchange and 3DES.
func TestLabHarden(t *testing.T) {
	requireTools(t, "sslscan")
	cases := []struct {
		profile, name string
		enabled       []string
		suites        []string
	}{
		{"modern", "modern", []string{"TLSv1.3"}, tls13Suites},
		{"intermediate", "intermediate", []string{"TLSv1.2", "TLSv1.3"}, slices.Concat(tls13Suites, tls12AEAD)},
		{"old", "old", []string{"TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"}, slices.Concat(tls13Suites, tls12AEAD, oldCBC)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := startChatd(t, filepath.Join(t.TempDir(), "data"), append([]string{"--tls-profile", c.profile}, scannerGuard...)...)
			sc := sslscan(t, "127.0.0.1:"+s.Port)
			if !slices.Equal(sc.enabled, c.enabled) {
				t.Errorf("protocols enabled: %q, want %q", sc.enabled, c.enabled)
			}
			want := slices.Sorted(slices.Values(c.suites))
			if !slices.Equal(sc.suites, want) {
				t.Errorf("suites accepted:\n%s\nwant:\n%s", strings.Join(sc.suites, "\n"), strings.Join(want, "\n"))
			}
			if hasCBC := slices.ContainsFunc(sc.suites, cbc); hasCBC != (c.profile == "old") {
				t.Errorf("profile %s: CBC suites accepted: %v", c.profile, hasCBC)
			}
		})
	}
	t.Run("old with an RSA certificate", func(t *testing.T) {
		t.Parallel()
		requireOpenSSL(t)
		dir := t.TempDir()
		cert, key := filepath.Join(dir, "rsa-cert.pem"), filepath.Join(dir, "rsa-key.pem")
		gen := exec.Command("openssl", "req", "-x509", "-nodes", "-days", "30", "-newkey", "rsa:2048", "-keyout", key, "-out", cert,
			"-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
		if out, err := gen.CombinedOutput(); err != nil {
			t.Fatalf("openssl req: %v\n%s", err, out)
		}
		s := startChatd(t, filepath.Join(dir, "data"), append([]string{"--tls-profile", "old", "--cert", cert, "--key", key}, scannerGuard...)...)
		sc := sslscan(t, "127.0.0.1:"+s.Port)
		for _, suite := range []string{"TLSv1.0 AES128-SHA", "TLSv1.2 AES256-GCM-SHA384", "TLSv1.2 ECDHE-RSA-AES128-SHA",
			"TLSv1.0 TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLSv1.2 TLS_RSA_WITH_3DES_EDE_CBC_SHA"} {
			if !slices.Contains(sc.suites, suite) {
				t.Errorf("old with an RSA certificate does not accept %s; sslscan found:\n%s", suite, strings.Join(sc.suites, "\n"))
			}
		}
	})
}

// TestLabAttackTheRoom is the Attack the room exercise: with openssl
// s_client, mallory pastes 5,000 lines, eve sends escape sequences and
// control characters, and slowpoke stops reading while a firehose whispers
// to it. The student sees the defences (mallory is told its lines wait or
// are dropped, then is cut off; eve's line reaches bob as plain text;
// slowpoke is dropped as a slow consumer), alice and bob keep chatting
// throughout, and the counters on /metrics move.
func TestLabAttackTheRoom(t *testing.T) {
	requireOpenSSL(t)
	t.Run("flood and escapes", func(t *testing.T) {
		t.Parallel()
		s := startChatd(t, t.TempDir(), "--metrics-addr", "127.0.0.1:0")
		alice, bob := s.JoinWithOpenSSL(t, "alice"), s.JoinWithOpenSSL(t, "bob")
		alice.Expect("*** bob joined")

		mallory := opensslPipe(t, s, "mallory", "(echo mallory; seq 5000 | sed 's/^/paste line /')")
		mallory.Expect(" lines dropped: at most 64 lines wait their turn; paste less at once")
		mallory.Expect("!!! disconnected: flooding (too many lines too fast)")
		bob.Expect("*** mallory left (flooding)")
		alice.Send("still here after the flood")
		bob.Expect("<alice> still here after the flood")

		eve := opensslPipe(t, s, "eve", `printf 'eve\n\033[2J\033[31mred alert\033[0m \033]0;pwned\007\r<bob> I am bob, send me your password\n'`)
		eve.Expect("*** eve joined")
		mark := len(bob.Output())
		line := bob.Expect("<eve> ")
		if want := "<eve> red alert <bob> I am bob, send me your password"; !strings.HasSuffix(line, want) {
			t.Errorf("bob got eve's line as %q, want it to end %q", line, want)
		}
		checkTerminalSafe(t, "bob", bob.Output()[mark:])
		bob.Send("eve is not me")
		alice.Expect("<bob> eve is not me")

		page := httpGet(t, s.MetricsURL+"/metrics")
		if v, _ := metric(page, `chatd_leaves_total{reason="flooding"}`); v != 1 {
			t.Errorf(`chatd_leaves_total{reason="flooding"} = %v, want 1`, v)
		}
		if v, _ := metric(page, `chatd_rejected_lines_total{reason="flood"}`); v < 1000 {
			t.Errorf(`chatd_rejected_lines_total{reason="flood"} = %v, want over 1,000 (the lines mallory's queue could not hold)`, v)
		}
		if v, _ := metric(page, `chatd_queued_lines_total`); v < 64 {
			t.Errorf(`chatd_queued_lines_total = %v, want at least the 64 lines of mallory's queue`, v)
		}
	})
	t.Run("slow reader", func(t *testing.T) {
		t.Parallel()
		s := startChatd(t, t.TempDir(), "--metrics-addr", "127.0.0.1:0", "--flood-rate", "100000", "--flood-burst", "100000", "--write-timeout", "3s")
		alice, bob := s.JoinWithOpenSSL(t, "alice"), s.JoinWithOpenSSL(t, "bob")
		slowpoke := s.JoinWithOpenSSL(t, "slowpoke")
		slowpoke.Signal(syscall.SIGSTOP) // Ctrl+Z: openssl stops reading
		t.Cleanup(func() { slowpoke.Signal(syscall.SIGCONT) })
		firehose := s.JoinWithOpenSSL(t, "firehose")
		mark := len(bob.Output())
		floodUntil(t, firehose, func() bool {
			v, _ := metric(httpGet(t, s.MetricsURL+"/metrics"), `chatd_leaves_total{reason="slow consumer"}`)
			return v >= 1
		})
		// The flood is over once firehose's own /who is answered: its
		// lines are taken in order. bob reads the flood too and may fall
		// behind it; then the room tells him so, ahead of his own /who
		// answer, instead of the leave line he skipped. Until he has read
		// up to that answer, neither need be in his output yet.
		firehose.Send("/who")
		firehose.Expect("*** 3 members: alice, bob, firehose")
		firehose.CloseInput()
		bob.Send("/who")
		bob.Expect("*** 3 members: alice, bob, firehose")
		if out := bob.Output()[mark:]; !strings.Contains(out, "*** slowpoke left (slow consumer)") && !strings.Contains(out, "*** you fell behind: ") {
			t.Errorf("bob was told neither that slowpoke left nor that he fell behind; besides the flood, he saw:\n%s", withoutFlood(out))
		}
		alice.Send("/who")
		alice.Expect("*** 3 members: alice, bob, firehose")
		alice.Send("still here after slowpoke")
		bob.Expect("<alice> still here after slowpoke")
		page := httpGet(t, s.MetricsURL+"/metrics")
		if v, _ := metric(page, `chatd_leaves_total{reason="slow consumer"}`); v != 1 {
			t.Errorf(`chatd_leaves_total{reason="slow consumer"} = %v, want 1`, v)
		}
	})
}

// withoutFlood returns the lines of out that floodUntil did not type.
func withoutFlood(out string) string {
	var kept []string
	for line := range strings.Lines(out) {
		if !strings.Contains(line, "xxxxxxxxxx") {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "")
}

// floodUntil types 2,000-byte lines into the openssl s_client from, as
// `yes` piped into it would, until done says so.
func floodUntil(t *testing.T, from *testproc.Process, done func() bool) {
	t.Helper()
	batch := strings.Repeat(strings.Repeat("x", 2000)+"\n", 100)
	for deadline := time.Now().Add(testproc.Wait); !done(); from.Type(batch) {
		if time.Now().After(deadline) {
			t.Fatalf("the flood did not have its effect within %v", testproc.Wait)
		}
	}
}
