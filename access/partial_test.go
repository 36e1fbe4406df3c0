package access

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// failingGoverned is newGoverned over a failingBackend.
func failingGoverned(t *testing.T) (*governed, *failingBackend) {
	t.Helper()
	var fb *failingBackend
	g := newGoverned(t, options{wrap: func(m *MemoryBackend) Backend {
		fb = &failingBackend{MemoryBackend: m}
		return fb
	}})
	return g, fb
}

// TestUnbanPartial: an /unban of two records whose second Delete fails
// says one of two changes was kept, not "nothing changed", and logs the
// key left changed.
func TestUnbanPartial(t *testing.T) {
	g, fb := failingGoverned(t)
	contains(t, run(g.oscar, "/ban mallory spam"), "banned mallory: 2 credentials and addresses")
	fb.failFrom(2, 1)
	lines := run(g.oscar, "/unban mallory")
	contains(t, lines, "failed part-way: 1 of 2 changes were kept; run /banned to see what holds")
	for _, l := range lines {
		if strings.Contains(l, "nothing changed") {
			t.Errorf("a partial unban says %q", l)
		}
	}
	contains(t, []string{g.logText()}, "failed part-way")
	contains(t, run(g.oscar, "/banned"), "1 ban:")
	contains(t, run(g.oscar, "/unban mallory"), "lifted the ban on mallory")
}

// TestBanRollback: a ban whose second record fails takes the first back,
// with a context that outlives the command's (here cancelled at the
// failure), and says nothing changed; when the rollback fails too, the
// answer says what was kept, and the view holds it.
func TestBanRollback(t *testing.T) {
	g, fb := failingGoverned(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fb.onFail = cancel
	fb.failFrom(2, 1)
	_, err := g.d.Run(ctx, sshID("olive", "192.0.2.9"), []string{"ban", "mallory", "spam"})
	if !errors.Is(err, ErrStore) || errors.Is(err, ErrPartial) {
		t.Fatalf("ban with a failed Put: %v", err)
	}
	if recs, _ := g.backend.List(context.Background(), Bans); len(recs) != 0 {
		t.Errorf("the rollback left %d bans in the Backend", len(recs))
	}
	fb.onFail = nil
	fb.failFrom(2, 2) // the second Put, then the rollback's Delete
	_, err = g.d.Run(context.Background(), sshID("olive", "192.0.2.9"), []string{"ban", "mallory", "spam"})
	if !errors.Is(err, ErrPartial) || !strings.Contains(err.Error(), "1 of 2 changes were kept") {
		t.Fatalf("ban with a failed rollback: %v", err)
	}
	recs, _ := g.backend.List(context.Background(), Bans)
	contains(t, run(g.oscar, "/banned"), "1 ban:")
	if len(recs) != 1 {
		t.Errorf("%d bans in the Backend, 1 in the view", len(recs))
	}
}

// TestAllowPartial: /allow and /disallow of several credentials that
// fail part-way say so.
func TestAllowPartial(t *testing.T) {
	g, fb := failingGoverned(t)
	viaCert := g.join("x", tlsID("oscar", "192.0.2.8"))
	contains(t, run(viaCert, "/register "+takeCode(t, g.oscar)), "now also signs in")
	fb.failFrom(2, 1)
	contains(t, run(g.olive, "/allow oscar"), "1 of 2 changes were kept")
	contains(t, run(g.olive, "/allow oscar"), "allowed")
	fb.failFrom(2, 1)
	contains(t, run(g.olive, "/disallow oscar"), "1 of 2 changes were kept")
}

// TestUnregisterPartial: an /unregister whose role was dropped but whose
// account stays says so.
func TestUnregisterPartial(t *testing.T) {
	g, fb := failingGoverned(t)
	fb.failFrom(2, 1)
	contains(t, run(g.olive, "/unregister oscar"), "1 of 2 changes were kept; run /whois oscar")
	contains(t, run(g.olive, "/whois oscar"), "oscar: member")
}
