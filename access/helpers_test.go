package access

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"chatd/certs"
	"chatd/room"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// keyFP is a made-up SSH key fingerprint, distinct for each name.
func keyFP(name string) string {
	sum := sha256.Sum256([]byte("key " + name))
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// certFP is a made-up certificate fingerprint, distinct for each name.
func certFP(name string) string {
	sum := sha256.Sum256([]byte("cert " + name))
	return certs.FormatFingerprint(sum)
}

// sshID is an SSH connection with the key called name, from addr.
func sshID(name, addr string) room.Identity {
	return room.Identity{Transport: room.TransportSSH, Address: addr, KeyFingerprint: keyFP(name)}
}

// tlsID is a TLS connection with the certificate called name, from addr.
func tlsID(name, addr string) room.Identity {
	return room.Identity{Transport: room.TransportTLS, Address: addr, CertFingerprint: certFP(name)}
}

// fixture is a Directory over a MemoryBackend, and a room it governs.
type fixture struct {
	t       *testing.T
	clock   *clock
	backend *MemoryBackend
	d       *Directory
	r       *room.Room
	reg     *prometheus.Registry
	logs    *strings.Builder
	logMu   *sync.Mutex
	fed     bool // the room is a node of several (options.bus): fed by its log
}

// options configure a fixture.
type options struct {
	policy     Policy
	admins     string // the admins file's text
	allowlist  string
	ephemeral  bool // Options.Ephemeral
	keysUnseen bool // Options.SSHKeysUnseen
	backend    *MemoryBackend
	clock      *clock
	wrap       func(*MemoryBackend) Backend // the Backend the Directory uses, over backend
	relay      Relay                        // Options.Relay
	bus        room.Bus                     // the room's Config.Bus
	// pastDoor has the room admit every join (a Policy whose Admit
	// admits all), for tests of members the door would have refused.
	pastDoor bool
}

// pastDoor is a Directory as the room's Policy, save that it admits
// every join.
type pastDoor struct{ *Directory }

func (pastDoor) Admit(room.Identity) error { return nil }

func newFixture(t *testing.T, o options) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: o.clock, backend: o.backend, reg: prometheus.NewRegistry(), logs: new(strings.Builder), logMu: new(sync.Mutex)}
	if f.clock == nil {
		f.clock = newClock()
	}
	if f.backend == nil {
		f.backend = NewMemoryBackend(f.clock.now)
	}
	var backend Backend = f.backend
	if o.wrap != nil {
		backend = o.wrap(f.backend)
	}
	opts := Options{Backend: backend, Policy: o.policy, Ephemeral: o.ephemeral, SSHKeysUnseen: o.keysUnseen, Registerer: f.reg, Now: f.clock.now, Relay: o.relay,
		Logger: slog.New(slog.NewJSONHandler(lockedWriter{f.logMu, f.logs}, nil))}
	if o.admins != "" {
		opts.AdminsFile = writeFile(t, "admins", o.admins)
	}
	if o.allowlist != "" {
		opts.AllowlistFile = writeFile(t, "allowlist", o.allowlist)
	}
	d, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.d = d
	var policy room.Policy = d
	if o.pastDoor {
		policy = pastDoor{d}
	}
	var log *fedLog
	cfg := room.Config{
		Policy: policy, Greeting: d.Greeting, Nicks: d.Nicks(room.NewMemoryNicks(100, f.clock.now)),
		FloodBurst: 1 << 20, FloodKick: 1 << 20, Logger: slog.New(slog.DiscardHandler), Now: f.clock.now, Bus: o.bus,
	}
	if o.bus != nil { // a node of several: its members see what its feed brings
		f.fed = true
		log = &fedLog{MemoryLog: room.NewMemoryLog(room.DefaultHistorySize), appended: make(chan struct{}, 1)}
		cfg.Log = log
	}
	f.r = room.New(cfg)
	stopFeed := func() {}
	if log != nil {
		stopFeed = log.feed(t, f.r)
	}
	if err := d.Attach(f.r); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	t.Cleanup(func() {
		f.r.Close("")
		stopFeed()
		d.Close()
	})
	return f
}

// fedLog is the log of a room that is one node of several (a test Bus):
// a memory log that feeds the room what it stores, in order, as a node's
// feed does.
type fedLog struct {
	*room.MemoryLog
	appended chan struct{} // a token after each Append
}

// Append stores ev and wakes the feed.
func (l *fedLog) Append(ev *room.Event) (uint64, error) {
	seq, err := l.MemoryLog.Append(ev)
	select {
	case l.appended <- struct{}{}:
	default:
	}
	return seq, err
}

// feed hands r every event l stores, from a goroutine of its own, until
// the returned stop is called.
func (l *fedLog) feed(t *testing.T, r *room.Room) (stop func()) {
	after, err := r.Delivered()
	if err != nil {
		t.Fatalf("Delivered: %v", err)
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			evs, _ := l.Replay(after, 1<<16)
			for _, ev := range evs {
				r.Feed(ev)
				after = ev.Seq
			}
			select {
			case <-l.appended:
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// lockedWriter serializes writes to a builder.
type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (f *fixture) logText() string {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	return f.logs.String()
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := t.TempDir() + "/" + name
	if err := writeString(path, text); err != nil {
		t.Fatal(err)
	}
	return path
}

// join joins nick with id and takes what joining queued.
func (f *fixture) join(nick string, id room.Identity) *room.Member {
	f.t.Helper()
	woken := make(chan struct{}, 1)
	wake := func() {
		select {
		case woken <- struct{}{}:
		default:
		}
	}
	m, err := f.r.Join(nick, room.JoinOptions{Identity: id, Wake: wake})
	if err != nil {
		f.t.Fatalf("Join(%q): %v", nick, err)
	}
	if !f.fed {
		take(m)
		return m
	}
	// A node of several shows its joiner anything only once its feed has
	// brought the joiner's own Join.
	deadline := time.After(10 * time.Second)
	for !slices.ContainsFunc(take(m), func(ev *room.Event) bool { return ev.Kind == room.Join && ev.From == m.Nick() }) {
		select {
		case <-woken:
		case <-deadline:
			f.t.Fatalf("%s was never shown its own join", nick)
		}
	}
	return m
}

// take takes every event queued for m.
func take(m *room.Member) []*room.Event {
	var out []*room.Event
	for {
		batch, _ := m.Take(nil, 64)
		if len(batch) == 0 {
			return out
		}
		out = append(out, batch...)
	}
}

// run sends line as m and returns the texts of the notices and errors it
// was told, errors prefixed "error: ".
func run(m *room.Member, line string) []string {
	take(m)
	m.Send(line)
	return texts(take(m))
}

// texts are the notices' and errors' texts among events.
func texts(events []*room.Event) []string {
	var out []string
	for _, ev := range events {
		switch ev.Kind {
		case room.Notice:
			out = append(out, ev.Text)
		case room.Error:
			out = append(out, "error: "+ev.Text)
		}
	}
	return out
}

// contains fails the test unless one of lines contains want.
func contains(t *testing.T, lines []string, want string) {
	t.Helper()
	for _, l := range lines {
		if strings.Contains(l, want) {
			return
		}
	}
	t.Errorf("no line contains %q in:\n%s", want, strings.Join(lines, "\n"))
}

// left returns m's reason for leaving, once its events ended; fails if it
// has not left.
func left(t *testing.T, m *room.Member) room.Reason {
	t.Helper()
	take(m)
	if _, open := m.Take(nil, 1); open {
		t.Fatalf("%s has not left", m.Nick())
	}
	return m.Reason()
}

// owner is the admins file line that makes the key called name an owner.
func ownerLine(name string) string { return keyFP(name) + "\n" }

func writeString(path, text string) error { return os.WriteFile(path, []byte(text), 0o600) }

// containsEvent is contains over the texts of events.
func containsEvents(t *testing.T, events []*room.Event, want string) {
	t.Helper()
	contains(t, texts(events), want)
}

var t0ctx = context.Background()

// failingBackend is a MemoryBackend whose writes (Create, Put, Delete)
// fail when their number, counted from 1, is in fail; it refuses every
// call once its context is done, as a network store would.
type failingBackend struct {
	*MemoryBackend
	mu     sync.Mutex
	writes int
	fail   map[int]bool
	onFail func() // called at each failure, if set
}

var errInjected = errors.New("injected failure")

// write counts a write and says whether it fails.
func (b *failingBackend) write(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	b.writes++
	failed := b.fail[b.writes]
	onFail := b.onFail
	b.mu.Unlock()
	if !failed {
		return nil
	}
	if onFail != nil {
		onFail()
	}
	return errInjected
}

// failFrom makes the writes numbered n, n+1, ... n+k-1 from now fail.
func (b *failingBackend) failFrom(n, k int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fail = map[int]bool{}
	for i := range k {
		b.fail[b.writes+n+i] = true
	}
}

func (b *failingBackend) Create(ctx context.Context, bk Bucket, key string, val []byte, ttl time.Duration) error {
	if err := b.write(ctx); err != nil {
		return err
	}
	return b.MemoryBackend.Create(ctx, bk, key, val, ttl)
}

func (b *failingBackend) Put(ctx context.Context, bk Bucket, key string, val []byte, ttl time.Duration) error {
	if err := b.write(ctx); err != nil {
		return err
	}
	return b.MemoryBackend.Put(ctx, bk, key, val, ttl)
}

func (b *failingBackend) Delete(ctx context.Context, bk Bucket, key string) error {
	if err := b.write(ctx); err != nil {
		return err
	}
	return b.MemoryBackend.Delete(ctx, bk, key)
}
