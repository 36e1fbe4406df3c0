package access

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"chatd/room"
)

// TestConsole: owners and operators run the admin commands over SSH
// exec, named in announcements by the admins file's comment or their
// account; anyone else is denied.
func TestConsole(t *testing.T) {
	f := newFixture(t, options{admins: carolKey + "\n"})
	carol := room.Identity{Transport: room.TransportSSH, Address: "192.0.2.77", KeyFingerprint: carolKeyFP}
	alice := f.join("alice", tlsID("alice", "192.0.2.1"))
	mallory := f.join("mallory", sshID("mallory", "198.51.100.1"))
	ctx := context.Background()
	out, err := f.d.Run(ctx, carol, []string{"whois", "alice"})
	if err != nil || len(out) == 0 || out[0] != "alice: member" {
		t.Errorf("whois: %q, %v", out, err)
	}
	if _, err := f.d.Run(ctx, sshID("mallory", "198.51.100.1"), []string{"whois", "alice"}); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("whois by mallory: %v", err)
	}
	// sshgw answers who itself: the console does not have it
	if _, err := f.d.Run(ctx, carol, []string{"who"}); !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("who: %v", err)
	}
	if _, err := f.d.Run(ctx, carol, []string{"ban", "mallory", "1h", "spam"}); err != nil {
		t.Fatal(err)
	}
	if r := left(t, mallory); r.Kind != room.ReasonBanned || r.Detail != "an owner until 2026-12-01 13:00:00 UTC: spam" {
		t.Errorf("mallory left for %+v", r)
	}
	out, err = f.d.Run(ctx, carol, []string{"banned"})
	if err != nil || !strings.Contains(strings.Join(out, "\n"), "by an owner") {
		t.Errorf("banned: %q, %v", out, err)
	}
	if _, err := f.d.Run(ctx, carol, []string{"kick"}); !errors.Is(err, room.ErrUsage) || err.Error() != "usage: kick NICK [REASON]" {
		t.Errorf("kick without a nick: %v", err)
	}
	// a usage error keeps what was wrong
	for args, want := range map[string]string{
		"ban alice 400d spam": "usage: ban NICK|fp=FINGERPRINT|ip=ADDR[/PREFIX] [DURATION] [REASON]: 400d is not a duration (1s to 365d, like 30m, 2h, 7d)",
		"ban alice -1h":       "usage: ban NICK|fp=FINGERPRINT|ip=ADDR[/PREFIX] [DURATION] [REASON]: -1h is not a duration (1s to 365d, like 30m, 2h, 7d)",
		"ban fp=SHA256:xyz":   "usage: ban NICK|fp=FINGERPRINT|ip=ADDR[/PREFIX] [DURATION] [REASON]: fp= takes a SHA256: key or sha256: certificate fingerprint",
		"mute alice 0s":       "usage: mute NICK [DURATION] [REASON]: 0s is not a duration (1s to 365d, like 30m, 2h, 7d)",
		"mute alice 2w":       "usage: mute NICK [DURATION] [REASON]: 2w is not a duration (1s to 365d, like 30m, 2h, 7d)",
	} {
		if _, err := f.d.Run(ctx, carol, strings.Fields(args)); !errors.Is(err, room.ErrUsage) || err.Error() != want {
			t.Errorf("%s: %v", args, err)
		}
	}
	// A command the console does not have is unknown to anyone, so that
	// the gateway answers it as any unknown command; one it has is denied
	// to members.
	for _, id := range []room.Identity{carol, sshID("mallory", "198.51.100.1")} {
		for _, name := range []string{"frobnicate", "register", "ls"} {
			if _, err := f.d.Run(ctx, id, []string{name, "-l"}); !errors.Is(err, ErrUnknownCommand) || errors.Is(err, ErrPermissionDenied) {
				t.Errorf("%s by %s: %v", name, id.KeyFingerprint, err)
			}
		}
	}
	if _, err := f.d.Run(ctx, sshID("mallory", "198.51.100.1"), []string{"kick", "alice"}); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("kick by mallory: %v", err)
	}
	out, err = f.d.Run(ctx, carol, nil)
	if err != nil || len(out) < 10 {
		t.Errorf("help: %q, %v", out, err)
	}
	if _, err := f.d.Run(ctx, carol, []string{strings.Repeat("x", maxConsoleArgBytes+1)}); !errors.Is(err, room.ErrUsage) {
		t.Errorf("a huge word: %v", err)
	}
	// an operator by account is named by its nickname
	run(alice, "/register")
	if _, err := f.d.Run(ctx, carol, []string{"op", "alice"}); err != nil {
		t.Fatal(err)
	}
	containsEvents(t, take(alice), "an owner made alice an operator")
	if _, err := f.d.Run(ctx, tlsID("alice", "10.0.0.1"), []string{"motd", "hello", "there"}); err != nil {
		t.Fatal(err)
	}
	containsEvents(t, take(alice), "alice set the message of the day: hello there")
}

// TestStoreFailure: a command whose change the Backend cannot keep says
// so; nothing changed in memory.
func TestStoreFailure(t *testing.T) {
	clk := newClock()
	fb := &failingBackend{MemoryBackend: NewMemoryBackend(clk.now)}
	d, err := New(context.Background(), Options{Backend: fb, Now: clk.now, AdminsFile: writeFile(t, "admins", ownerLine("olive"))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := room.New(room.Config{Policy: d, Nicks: d.Nicks(room.NewMemoryNicks(10, clk.now)), FloodBurst: 1 << 20, FloodKick: 1 << 20, Now: clk.now})
	defer r.Close("")
	if err := d.Attach(r); err != nil {
		t.Fatal(err)
	}
	olive, err := r.Join("olive", room.JoinOptions{Identity: sshID("olive", "192.0.2.9")})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := r.Join("alice", room.JoinOptions{Identity: sshID("alice", "192.0.2.1")})
	if err != nil {
		t.Fatal(err)
	}
	take(olive)
	take(alice)
	fb.failFrom(1, 100) // every write from now
	for _, tc := range []struct {
		m    *room.Member
		line string
	}{{alice, "/register"}, {olive, "/ban alice"}, {olive, "/mute alice"}, {olive, "/motd hi"}, {olive, "/allow alice"}} {
		contains(t, run(tc.m, tc.line), "the access store is unavailable; nothing changed")
	}
	if len(d.v.accounts) != 0 || len(d.v.bans) != 0 || len(d.v.mutes) != 0 || d.v.motd.Text != "" || len(d.v.allowed) != 0 {
		t.Errorf("the view changed: %+v", d.v)
	}
	if _, ok := r.Find("alice"); !ok {
		t.Error("alice was removed by a ban that was not kept")
	}
}

// TestConcurrency: commands, the door and the room's questions run at
// once (for -race).
func TestConcurrency(t *testing.T) {
	f := newFixture(t, options{admins: ownerLine("olive")})
	olive := f.join("olive", sshID("olive", "192.0.2.9"))
	var wg sync.WaitGroup
	for i := range 8 {
		name := string(rune('a'+i)) + "user"
		m := f.join(name, sshID(name, "192.0.2.1"))
		wg.Go(func() {
			for range 10 {
				f.d.Admit(m.Identity())
				f.d.Operator(m.Identity())
				f.d.Muted(name, m.Identity())
				f.d.Greeting(name, m.Identity())
			}
		})
		wg.Go(func() { m.Send("/register") })
	}
	wg.Go(func() {
		for _, line := range []string{"/motd hi", "/mute auser 1m", "/ban ip=198.51.100.0/24", "/ban buser", "/unmute auser"} {
			olive.Send(line)
		}
	})
	wg.Go(func() {
		for range 10 {
			f.d.Run(context.Background(), sshID("olive", "x"), []string{"banned"})
		}
	})
	// two connections with one key race to register two nicknames: one
	// account gets it
	k1 := f.join("twin1", sshID("twin", "192.0.2.2"))
	k2 := f.join("twin2", sshID("twin", "192.0.2.3"))
	wg.Go(func() { k1.Send("/register") })
	wg.Go(func() { k2.Send("/register") })
	wg.Wait()
	n := 0
	for _, nick := range []string{"twin1", "twin2"} {
		if f.d.checkClaim(nick, sshID("someone", "10.0.0.1")) != nil {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d accounts hold the twin key", n)
	}
	f.d.Close()
	if _, err := f.d.Run(context.Background(), sshID("olive", "x"), []string{"banned"}); !errors.Is(err, errClosed) {
		t.Errorf("Run after Close: %v", err)
	}
}

// TestConsoleOwnerName: an admins-file comment names the owner only if it
// is a nickname without "@"; else the owner is "an owner" (or its
// account's nickname).
func TestConsoleOwnerName(t *testing.T) {
	for comment, want := range map[string]string{
		"carol@laptop": "an owner", "": "an owner", "two words": "an owner", "carol": "carol",
	} {
		f := newFixture(t, options{admins: keyFP("carol") + " " + comment + "\n"})
		alice := f.join("alice", tlsID("alice", "192.0.2.1"))
		if _, err := f.d.Run(t0ctx, sshID("carol", "192.0.2.77"), []string{"kick", "alice"}); err != nil {
			t.Fatal(err)
		}
		if r := left(t, alice); !strings.HasPrefix(r.Detail, want) || strings.Contains(r.Detail, "@") {
			t.Errorf("comment %q: alice left for %+v", comment, r)
		}
	}
}

// TestWriteLockHonoursContext: a change waiting for another gives up when
// its context ends, over the console and in the room (whose commands
// have a deadline of their own), saying nothing changed.
func TestWriteLockHonoursContext(t *testing.T) {
	g := newGoverned(t, options{})
	if err := g.d.lockW(t0ctx); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t0ctx)
	cancel()
	if _, err := g.d.Run(ctx, sshID("olive", "192.0.2.9"), []string{"ban", "mallory"}); !errors.Is(err, errBusy) {
		t.Errorf("console ban while another change holds the lock: %v", err)
	}
	g.d.commandTimeout = time.Millisecond
	contains(t, run(g.oscar, "/mute mallory"), "busy with other changes")
	g.d.unlockW()
	contains(t, run(g.oscar, "/mute mallory"), "oscar muted mallory")
}

// TestConsoleSaysWhatHappened: a console command that succeeds answers
// what it did, since the admin is not in the room to hear it.
func TestConsoleSaysWhatHappened(t *testing.T) {
	g := newGoverned(t, options{})
	olive := sshID("olive", "192.0.2.99")
	for _, tc := range []struct{ args, want string }{
		{"op alice", "made alice an operator"},
		{"deop alice", "took alice's operator role away"},
		{"mute mallory 1h", "muted mallory for 1h"},
		{"unmute mallory", "unmuted mallory"},
		{"motd hello", "set the message of the day: hello"},
		{"motd -", "cleared the message of the day"},
		{"ban fp=" + keyFP("zed"), "banned " + keyFP("zed")},
		{"unban fp=" + keyFP("zed"), "lifted the ban on " + keyFP("zed")},
		{"allow fp=" + keyFP("zed"), "allowed"},
		{"disallow fp=" + keyFP("zed"), "disallowed " + keyFP("zed")},
		{"kick mallory bye", "kicked mallory: bye"},
	} {
		out, err := g.d.Run(t0ctx, olive, strings.Fields(tc.args))
		if err != nil {
			t.Fatalf("%s: %v", tc.args, err)
		}
		contains(t, out, tc.want)
	}
	// in the room, the announcement is the answer: it is not told twice
	if lines := run(g.olive, "/motd again"); len(lines) != 1 {
		t.Errorf("/motd told %q", lines)
	}
}

// TestMuteWithoutCredential: a mute of a member without a key or
// certificate says it holds the nickname only.
func TestMuteWithoutCredential(t *testing.T) {
	g := newGoverned(t, options{})
	g.join("bare", room.Identity{Transport: room.TransportTLS, Address: "192.0.2.50"})
	contains(t, run(g.oscar, "/mute bare"), "the mute holds the nickname only: they can come back unmuted under another")
	lines := run(g.oscar, "/mute mallory")
	for _, l := range lines {
		if strings.Contains(l, "nickname only") {
			t.Errorf("mute of a member with a key: %q", l)
		}
	}
}
