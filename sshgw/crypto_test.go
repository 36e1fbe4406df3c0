package sshgw

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"chatd/room"
)

// hostileVersion is a client version string an attacker might send: C1
// controls (8-bit CSI and OSC, which the Go client lets through: it only
// refuses bytes below 32) that would clear the screen and set the title, a
// right-to-left override, a quote, and more text than a line holds (the
// server reads up to 255 bytes).
var hostileVersion = "SSH-2.0-x\u009b2J\u009d0;pwned\u009c\u202e\"q\" " + strings.Repeat("A", 200)

// TestCryptoDescribesTheSession: /crypto on an SSH screen shows what was
// negotiated for this very connection, as the Go client chose it (cipher,
// MAC), the server's host key fingerprint, the client's key or how it got
// in without one, and its version string cleaned, cut and quoted.
func TestCryptoDescribesTheSession(t *testing.T) {
	checkGoroutines(t)
	key := newClientKey(t)
	for _, tc := range []struct {
		name  string
		cfg   Config
		auth  gossh.AuthMethod
		algos gossh.Config
		want  []string
	}{
		{"a key, CTR and a MAC", Config{}, gossh.PublicKeys(key),
			gossh.Config{Ciphers: []string{gossh.CipherAES128CTR}, MACs: []string{gossh.HMACSHA256ETM}, KeyExchanges: []string{gossh.KeyExchangeCurve25519}},
			[]string{
				"key exchange: curve25519-sha256",
				"cipher (both directions): aes128-ctr, MAC hmac-sha2-256-etm@openssh.com",
				"your key: ssh-ed25519 " + gossh.FingerprintSHA256(key.PublicKey()) + " (you proved you hold it)",
			}},
		{"none auth, AEAD", Config{NoneAuth: true}, gossh.PublicKeys(key),
			gossh.Config{Ciphers: []string{gossh.CipherAES256GCM}, KeyExchanges: []string{gossh.KeyExchangeMLKEM768X25519}},
			[]string{
				"key exchange: mlkem768x25519-sha256",
				"cipher (both directions): aes256-gcm@openssh.com, MAC implicit (AEAD cipher)",
				`your key: none shown: the server let you in with "none" authentication`,
			}},
		{"keyboard-interactive", Config{}, noQuestions, gossh.Config{},
			[]string{"your key: none shown: you signed in with keyboard-interactive"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServerWith(t, tc.cfg)
			client, err := gossh.Dial("tcp", ts.addr, &gossh.ClientConfig{
				Config: tc.algos, User: "bob", Auth: []gossh.AuthMethod{tc.auth},
				HostKeyCallback: gossh.InsecureIgnoreHostKey(), ClientVersion: hostileVersion, Timeout: waitLimit,
			})
			if err != nil {
				t.Fatal(err)
			}
			term := attachTerminal(t, client)
			term.waitText("bob joined")
			term.send("/crypto\r")
			term.waitText("server's version")
			// Rows wrap at 100 columns: read the screen as one line of words.
			screen := strings.Join(strings.Fields(strings.ReplaceAll(term.screen(), "│", " ")), " ")
			want := append(tc.want, "server host key: ssh-ed25519 "+ts.srv.HostKeyFingerprint(), `server's version: "SSH-2.0-chatd"`,
				`your client's version: "SSH-2.0-x\"q\" AAAA`)
			for _, w := range want {
				if !strings.Contains(screen, w) {
					t.Errorf("the screen does not show %q:\n%s", w, screen)
				}
			}
			if strings.Contains(screen, "pwned") || strings.Count(screen, "A") > peerTextWidthForTest {
				t.Errorf("the client's version string was not cleaned and cut:\n%s", screen)
			}
			term.close()
		})
	}
}

// peerTextWidthForTest bounds the A's of hostileVersion the screen may
// show (tui cuts peer text to 80 columns; the wrapped row adds none).
const peerTextWidthForTest = 80

// TestHostKeyPublicHalf: the server writes its host key's public half
// beside it, readable by all, in the form ssh-keygen -lf reads, with the
// fingerprint the server reports; a public half someone changed is
// replaced at the next start.
func TestHostKeyPublicHalf(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	pub := ts.srv.HostKeyPublicPath()
	check := func() {
		t.Helper()
		fi, err := os.Stat(pub)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("public half mode %04o, want 0644", fi.Mode().Perm())
		}
		out, err := exec.Command("ssh-keygen", "-lf", pub).CombinedOutput()
		if err != nil || !strings.Contains(string(out), ts.srv.HostKeyFingerprint()) {
			t.Errorf("ssh-keygen -lf %s: %v, %s; want %s", pub, err, out, ts.srv.HostKeyFingerprint())
		}
	}
	check()
	if err := os.WriteFile(pub, []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl mallory\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	again, err := NewServer(Config{HostKeyPath: ts.srv.cfg.HostKeyPath, Room: ts.room})
	if err != nil {
		t.Fatal(err)
	}
	if again.HostKeyFingerprint() != ts.srv.HostKeyFingerprint() {
		t.Fatal("the host key changed")
	}
	check()
}

// TestCryptoCommandPrintsWithoutJoining: "ssh host crypto" prints what
// /crypto shows on the screen, exits 0 and joins nothing, so a script or a
// student can read the fingerprints without entering the room.
func TestCryptoCommandPrintsWithoutJoining(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t)
	c := ts.dial(t, "alice")
	defer c.Close()
	got := run(t, c, " crypto ", false)
	for _, want := range []string{
		"Your connection: SSH, as the server sees it\n",
		"server host key: ssh-ed25519 " + ts.srv.HostKeyFingerprint() + "\n",
		"your key: ssh-ed25519 SHA256:",
		"server's version: \"SSH-2.0-chatd\"\n",
	} {
		if got.status != 0 || !strings.Contains(got.stdout, want) {
			t.Errorf("crypto: %+v; want %q in its output", got, want)
		}
	}
	if ts.room.Len() != 0 {
		t.Errorf("%d members after crypto", ts.room.Len())
	}
}

// TestHostKeyPublicHalfNotRegular: a FIFO or a symbolic link where the
// public half goes neither blocks the start nor is followed: it is replaced
// by a regular file with the public half.
func TestHostKeyPublicHalfNotRegular(t *testing.T) {
	checkGoroutines(t)
	for _, kind := range []string{"fifo", "symlink"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			key := filepath.Join(dir, "ssh_host_ed25519_key")
			pub := key + PublicKeySuffix
			target := filepath.Join(dir, "elsewhere")
			switch kind {
			case "fifo":
				if err := syscall.Mkfifo(pub, 0o644); err != nil {
					t.Fatal(err)
				}
			case "symlink":
				if err := os.WriteFile(target, []byte("not yours\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, pub); err != nil {
					t.Fatal(err)
				}
			}
			type result struct {
				srv *Server
				err error
			}
			done := make(chan result, 1)
			go func() {
				srv, err := NewServer(Config{HostKeyPath: key, Room: room.New(room.Config{})})
				done <- result{srv, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(5 * time.Second):
				// Unblock the FIFO so that the goroutine ends.
				if f, err := os.OpenFile(pub, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
				<-done
				t.Fatalf("NewServer blocked on a %s at %s", kind, pub)
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			fi, err := os.Lstat(pub)
			if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 {
				t.Fatalf("public half after the start: %v, %v", fi, err)
			}
			if b, _ := os.ReadFile(pub); !strings.Contains(string(b), "ssh-ed25519 ") {
				t.Errorf("public half holds %q", b)
			}
			if b, _ := os.ReadFile(target); kind == "symlink" && string(b) != "not yours\n" {
				t.Errorf("the link's target was written: %q", b)
			}
		})
	}
}

// TestHostKeyPublicHalfInPublicDir: with Config.PublicDir, the public half
// is written there too (0644, in a 0755 directory it makes), and
// HostKeyPublicPath names that copy; a public directory others could
// change is refused, and the data directory's copy is named instead.
func TestHostKeyPublicHalfInPublicDir(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "data", "ssh_host_ed25519_key")
	public := filepath.Join(dir, "run", "chatd")
	srv, err := NewServer(Config{HostKeyPath: key, PublicDir: public, Room: room.New(room.Config{})})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(public, "ssh_host_ed25519_key.pub")
	if srv.HostKeyPublicPath() != want {
		t.Errorf("HostKeyPublicPath %q, want %q", srv.HostKeyPublicPath(), want)
	}
	if fi, err := os.Stat(want); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("public half in the public directory: %v", err)
	}
	if fi, err := os.Stat(public); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("public directory: %v", err)
	}
	a, _ := os.ReadFile(want)
	b, _ := os.ReadFile(key + PublicKeySuffix)
	if string(a) != string(b) || len(a) == 0 {
		t.Errorf("the two copies differ: %q and %q", a, b)
	}
	if err := os.Chmod(public, 0o777); err != nil {
		t.Fatal(err)
	}
	srv2, err := NewServer(Config{HostKeyPath: key, PublicDir: public, Room: room.New(room.Config{})})
	if err != nil {
		t.Fatal(err)
	}
	if srv2.HostKeyPublicPath() != key+PublicKeySuffix {
		t.Errorf("with a public directory all may write, HostKeyPublicPath is %q", srv2.HostKeyPublicPath())
	}
}
