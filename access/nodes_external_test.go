package access_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"chatd/access"
	"chatd/internal/jetkv"
	"chatd/internal/testproc"
	"chatd/room"
)

// propagation is how soon a change on one node must hold on another.
const propagation = time.Second

// keyFP is a made-up SSH key fingerprint, distinct for each name.
func keyFP(name string) string {
	sum := sha256.Sum256([]byte("key " + name))
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

func sshID(name, addr string) room.Identity {
	return room.Identity{Transport: room.TransportSSH, Address: addr, KeyFingerprint: keyFP(name)}
}

// node is one chatd node's Directory and room, on a connection of its
// own to the NATS server.
type node struct {
	d *access.Directory
	r *room.Room
}

// startNode opens a node's buckets (prefix shared by the nodes) and its
// Directory, with olive as owner.
func startNode(t *testing.T, url, admins string) *node {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := jetkv.Open(t.Context(), nc, jetkv.Options{Prefix: "NODES_", Logger: quiet, MaxRecords: 100})
	if err != nil {
		t.Fatal(err)
	}
	d, err := access.New(t.Context(), access.Options{Backend: b, AdminsFile: admins, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r := room.New(room.Config{Policy: d, Greeting: d.Greeting, Nicks: d.Nicks(room.NewMemoryNicks(100, time.Now)),
		FloodBurst: 1 << 20, FloodKick: 1 << 20, Logger: quiet})
	if err := d.Attach(r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close("")
		d.Close()
	})
	return &node{d: d, r: r}
}

func (n *node) join(t *testing.T, nick string, id room.Identity) *room.Member {
	t.Helper()
	m, err := n.r.Join(nick, room.JoinOptions{Identity: id})
	if err != nil {
		t.Fatalf("Join(%q): %v", nick, err)
	}
	drain(m)
	return m
}

// drain takes m's queued events and returns their texts.
func drain(m *room.Member) string {
	var out []string
	for {
		batch, _ := m.Take(nil, 64)
		if len(batch) == 0 {
			return strings.Join(out, "\n")
		}
		for _, ev := range batch {
			out = append(out, ev.Text)
		}
	}
}

// say sends line as m and returns what it was told.
func say(m *room.Member, line string) string {
	drain(m)
	m.Send(line)
	return drain(m)
}

// within waits until cond holds, and fails unless it held within
// propagation of start.
func within(t *testing.T, what string, start time.Time, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > 5*propagation {
			t.Fatalf("%s: not even within %v", what, 5*propagation)
		}
		<-tick.C
	}
	if took := time.Since(start); took > propagation {
		t.Errorf("%s took %v, more than %v", what, took, propagation)
	} else {
		t.Logf("%s within %v", what, took)
	}
}

// TestNodesOnNATS: two nodes on a real nats-server share one Directory:
// what an owner does on node a holds on node b within a second (a ban
// removes b's member, an /op makes b's member an operator, a mute holds
// at its next line), and of two concurrent registrations of one key to
// two nicknames on the two nodes, exactly one wins.
func TestNodesOnNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server")
	}
	bin, err := testproc.BuildNATS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := testproc.StartNATS(t, bin, t.TempDir(), "")
	admins := t.TempDir() + "/admins"
	if err := os.WriteFile(admins, []byte(keyFP("olive")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, b := startNode(t, srv.URL(), admins), startNode(t, srv.URL(), admins)
	olive := sshID("olive", "192.0.2.9")
	ctx := t.Context()

	bob := b.join(t, "bob", sshID("bob", "198.51.100.2"))
	start := time.Now()
	if out := say(bob, "/register"); !strings.Contains(out, "now registered") {
		t.Fatalf("/register on b: %s", out)
	}
	within(t, "a sees b's registration", start, func() bool {
		out, err := a.d.Run(ctx, olive, []string{"whois", "bob"})
		return err == nil && strings.Contains(strings.Join(out, " "), "registered since")
	})

	start = time.Now()
	if _, err := a.d.Run(ctx, olive, []string{"op", "bob"}); err != nil {
		t.Fatal(err)
	}
	within(t, "an /op on a makes b's member an operator", start, func() bool { return b.d.Operator(bob.Identity()) })

	start = time.Now()
	if _, err := a.d.Run(ctx, olive, []string{"mute", "bob", "1h", "calm down"}); err != nil {
		t.Fatal(err)
	}
	within(t, "a mute on a holds on b", start, func() bool { _, ok := b.d.Muted("bob", bob.Identity()); return ok })

	eve := b.join(t, "eve", sshID("eve", "198.51.100.7"))
	start = time.Now()
	if _, err := a.d.Run(ctx, olive, []string{"ban", "fp=" + keyFP("eve"), "spam"}); err != nil {
		t.Fatal(err)
	}
	within(t, "a ban on a removes b's member", start, func() bool { _, ok := b.r.Find("eve"); return !ok })
	drain(eve)
	if r := eve.Reason(); r.Kind != room.ReasonBanned || !strings.Contains(r.Detail, "spam") {
		t.Errorf("eve left for %+v, want banned: spam", r)
	}

	start = time.Now()
	if _, err := a.d.Run(ctx, olive, []string{"unban", "fp=" + keyFP("eve")}); err != nil {
		t.Fatal(err)
	}
	within(t, "an /unban on a lets eve into b", start, func() bool { return b.d.Admit(sshID("eve", "198.51.100.7")) == nil })
	start = time.Now()
	if _, err := a.d.Run(ctx, olive, []string{"deop", "bob"}); err != nil {
		t.Fatal(err)
	}
	within(t, "a /deop on a takes b's member's role", start, func() bool { return !b.d.Operator(bob.Identity()) })

	for i := range 3 {
		name := fmt.Sprint("dual", i)
		ma := a.join(t, name+"a", sshID(name, fmt.Sprintf("203.0.113.%d", 2*i)))
		mb := b.join(t, name+"b", sshID(name, fmt.Sprintf("203.0.113.%d", 2*i+1)))
		var wg sync.WaitGroup
		var outs [2]string
		wg.Go(func() { outs[0] = say(ma, "/register") })
		wg.Go(func() { outs[1] = say(mb, "/register") })
		wg.Wait()
		won := strings.Count(outs[0]+outs[1], "is now registered")
		if won != 1 || !strings.Contains(outs[0]+outs[1], "already registered to another account") && !strings.Contains(outs[0]+outs[1], "belongs to") {
			t.Fatalf("two registrations of one key: %q", outs)
		}
	}
}
