package tlsgw

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"chatd/access"
	"chatd/room"
)

// fpPolicy is a room.Policy and a door of the test's own: it refuses the
// certificate fingerprints banned so far, with refusal.
type fpPolicy struct {
	refusal *access.Refusal

	mu     sync.Mutex
	banned map[string]bool
}

func (p *fpPolicy) Admit(id room.Identity) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.banned[id.CertFingerprint] {
		return p.refusal
	}
	return nil
}

func (p *fpPolicy) Operator(room.Identity) bool { return false }

func (p *fpPolicy) Muted(string, room.Identity) (time.Time, bool) { return time.Time{}, false }

// ban refuses fp from now on.
func (p *fpPolicy) ban(fp string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.banned[fp] = true
}

// interactiveSClient runs openssl s_client -quiet presenting certFile and
// keyFile, and returns its input and its output, read line by line; the
// test ends it.
func interactiveSClient(t *testing.T, ts *testServer, certFile, keyFile string) (io.WriteCloser, *bufio.Reader) {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(ca, ts.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTime)
	cmd := exec.CommandContext(ctx, "openssl", "s_client", "-quiet", "-verify_return_error", "-verify_hostname", "localhost",
		"-servername", "localhost", "-connect", ts.addr, "-CAfile", ca, "-cert", certFile, "-key", keyFile)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		cancel()
		cmd.Wait()
	})
	return in, bufio.NewReader(out)
}

// readUntil reads lines from r until one contains want, and fails the
// test if the output ends first.
func readUntil(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if strings.Contains(line, want) {
			return
		}
		if err != nil {
			t.Fatalf("output ended (%v) before %q", err, want)
		}
	}
}

// TestBanAtThePromptRefusesTheJoin is the review's H2 over openssl
// s_client: a client the door admitted waits at the nickname prompt; it
// is banned by its certificate's fingerprint; the nickname it then sends
// is refused as the door refuses (its last line, a final ReasonRefused
// farewell, and the connection closes), nobody joined, and the refusal is
// counted once.
func TestBanAtThePromptRefusesTheJoin(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("this test needs openssl")
	}
	certFile, keyFile, fp := opensslCert(t)
	text := "you are banned: spam"
	pol := &fpPolicy{refusal: &access.Refusal{Kind: access.RefusedBanned, Reason: "spam", Text: text}, banned: map[string]bool{}}
	ts := startServer(t, Config{Door: pol, Room: room.New(room.Config{Policy: pol})})
	in, out := interactiveSClient(t, ts, certFile, keyFile)
	readUntil(t, out, "Choose a nickname")

	pol.ban(fp)
	if _, err := io.WriteString(in, "eve\n"); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(out) // until the server closes
	if err != nil {
		t.Fatal(err)
	}
	if want := "!!! disconnected: refused: " + text + "\n"; string(rest) != want {
		t.Errorf("after the ban, the nickname got %q, want %q and the end", rest, want)
	}
	if who := ts.room.Who(); who.Count != 0 {
		t.Errorf("%d members after the ban, want none", who.Count)
	}
	if st := ts.srv.Stats(); !maps.Equal(st.Refused, map[string]uint64{RefusedBanned: 1}) {
		t.Errorf("Stats.Refused = %v, want 1 banned", st.Refused)
	}
}

// claimLimited is a room's nicknames whose registered one, "alice", is
// refused as a claim over access's rate limit.
type claimLimited struct{ *room.MemoryNicks }

func (n claimLimited) Claim(nick string, c room.NickClaim) error {
	if nick == "alice" {
		return fmt.Errorf("%w: %w: %q is registered; wait a minute", room.ErrNickTaken, access.ErrTooManyClaims, nick)
	}
	return n.MemoryNicks.Claim(nick, c)
}

// TestTooManyClaimsEndsTheConnection (M6): a nickname refused because its
// address tried too many registered ones is told why, as a final
// farewell, and the connection closes rather than prompt again; a taken
// nickname is still asked again.
func TestTooManyClaimsEndsTheConnection(t *testing.T) {
	ts := startServer(t, Config{Room: room.New(room.Config{Nicks: claimLimited{room.NewMemoryNicks(8, nil)}})})
	ts.join(t, "bob")
	c := ts.connect(t)
	c.send("bob")
	c.expect("Choose a nickname") // taken: asked again
	c.send("alice")
	lines := c.expectClosed()
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "!!! disconnected: refused: ") || !strings.Contains(lines[0], "wait a minute") {
		t.Errorf("over the claim limit, the client got %q, want one final refusal and the end", lines)
	}
	if st := ts.srv.Stats(); len(st.Refused) != 0 {
		t.Errorf("Stats.Refused = %v: a claim over the limit is no refusal at the door", st.Refused)
	}
}
