package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"chatd/room"
)

// Options configure a Directory.
type Options struct {
	// Backend keeps the records. Required.
	Backend Backend
	// Policy is who may join (Open by default).
	Policy Policy
	// AdminsFile names the owners, one credential a line (see
	// ParseCredential); it is re-read by Reload. "": no owners. A line's
	// comment names the owner in the console's announcements if it is a
	// valid nickname without "@"; else the owner is "an owner".
	AdminsFile string
	// AllowlistFile seeds the allowlist at New: its credentials are
	// added, none is removed. "": none.
	AllowlistFile string
	// Ephemeral says the Backend keeps nothing across a restart (chatd
	// --store memory): /register's answers then say so.
	Ephemeral bool
	// SSHKeysUnseen says the SSH gateway lets clients in with the "none"
	// method, so that it never sees their keys (chatd --ssh-none-auth):
	// /register then tells an SSH member where it can register instead.
	SSHKeysUnseen bool
	// Relay, if set, carries a kick to the other nodes of the room: the
	// Directory removes its own members, and asks Relay to have the other
	// nodes remove theirs. Bans, mutes, roles and the rest reach the
	// other nodes through the Backend (Watcher).
	Relay Relay
	// Logger logs moderation actions and bad records; nil discards.
	Logger *slog.Logger
	// Registerer, if set, registers the Directory's metrics.
	Registerer prometheus.Registerer
	// Now reads the clock; nil is time.Now.
	Now func() time.Time
}

// storeTimeout bounds one call to the Backend.
const storeTimeout = 5 * time.Second

// commandTimeout bounds a slash command's wait for the other changes and
// its calls to the Backend (the console's context bounds its commands).
const commandTimeout = 15 * time.Second

// Directory is who is who in a room, who may come in and who governs it:
// it answers the room's seams (Policy, Nicks, Greeting), the gateways'
// Door and Console, and the room's identity and moderation commands.
// Its records live in a Backend and are kept in memory, so that the
// questions the room and the gateways ask are answered without waiting.
//
// Lock order: the room's lock may be held when d.mu is taken (the room
// asks its seams under it); never take the room's lock, nor call the
// room, under d.mu. The write lock (wmu) is taken before d.mu and is
// never waited for by the room or a gateway.
type Directory struct {
	backend Backend
	policy  Policy
	admins  string
	// ephemeral: the Backend forgets at restart (Options.Ephemeral).
	ephemeral bool
	// sshKeysUnseen: SSH members come in without keys (Options.SSHKeysUnseen).
	sshKeysUnseen bool
	log           *slog.Logger
	now           func() time.Time
	metrics       *metrics
	limits        *limits
	links         *links
	// commandTimeout bounds a slash command (commandTimeout; tests
	// shorten it).
	commandTimeout time.Duration
	// relay carries kicks to the other nodes (Options.Relay); nil: one
	// node.
	relay Relay
	// shared: the Backend is a Watcher and a Taker, shared by the nodes
	// of the room: link codes live in it.
	shared bool
	// stopWatch ends the watches of the buckets (nil: none).
	stopWatch context.CancelFunc

	// wmu serializes the changes, each of which writes the Backend, then
	// the view: a semaphore of one, taken with lockW so that waiting for
	// it ends with the command's context. Nothing the room or a gateway
	// waits for takes it.
	wmu chan struct{}

	// watcher and taker are the Backend's, if it is shared (then
	// backend is it wrapped by ownWrites).
	watcher Watcher
	taker   Taker
	// sweeps is the goroutine that applies the changes orderOwn held
	// back; Close waits for it.
	sweeps sync.WaitGroup

	mu sync.RWMutex
	// own are this Directory's writes its watch has not told back yet,
	// and the changes of others held back behind them (see orderOwn).
	own    map[ownKey]*ownState
	v      view
	room   *room.Room
	closed bool
}

// ErrStore is wrapped by the errors of commands whose change the Backend
// failed to keep: nothing changed. A change of several records that
// failed part-way is an ErrPartial instead.
var ErrStore = errors.New("the access store is unavailable; nothing changed")

// New returns a Directory over o.Backend, whose records it loads into
// memory; a stored record that fails its checks is skipped and logged.
func New(ctx context.Context, o Options) (*Directory, error) {
	if o.Backend == nil {
		return nil, errors.New("access: no Backend")
	}
	if o.Policy > Allowlist {
		return nil, fmt.Errorf("access: unknown policy %d", o.Policy)
	}
	d := &Directory{
		backend: o.Backend, policy: o.Policy, admins: o.AdminsFile, ephemeral: o.Ephemeral, sshKeysUnseen: o.SSHKeysUnseen,
		log: o.Logger, now: o.Now, metrics: newMetrics(), limits: newLimits(), links: newLinks(),
		wmu: make(chan struct{}, 1), commandTimeout: commandTimeout,
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	d.v = newView()
	d.watcher, _ = o.Backend.(Watcher)
	d.taker, _ = o.Backend.(Taker)
	d.relay, d.shared = o.Relay, d.watcher != nil && d.taker != nil
	if d.watcher != nil {
		d.backend = ownWrites{Backend: o.Backend, d: d}
	}
	if err := d.start(ctx, o); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// start loads the owners and the records, watching the buckets from
// before the records are read, so that no change is missed between the
// two; seeds the allowlist and registers the metrics.
func (d *Directory) start(ctx context.Context, o Options) error {
	if err := d.loadOwners(); err != nil {
		return err
	}
	loaded := make(chan struct{})
	if err := d.watch(ctx, loaded); err != nil {
		return err
	}
	err := d.load(ctx)
	close(loaded)
	if err != nil {
		return err
	}
	d.backfillIndex(ctx)
	if o.AllowlistFile != "" {
		if err := d.seedAllowlist(ctx, o.AllowlistFile); err != nil {
			return err
		}
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(d.metrics); err != nil {
			return fmt.Errorf("access: registering metrics: %w", err)
		}
	}
	return nil
}

// Reload re-reads the admins file. If it cannot be read or parsed, the
// owners stay as they were and the error says why.
func (d *Directory) Reload() error {
	if err := d.loadOwners(); err != nil {
		d.log.Warn("access: admins file not reloaded; the owners are unchanged", "err", err)
		return err
	}
	return nil
}

// loadOwners reads the admins file into the view's owners.
func (d *Directory) loadOwners() error {
	owners := make(map[Credential]string)
	if d.admins != "" {
		entries, err := readListFile(d.admins)
		if err != nil {
			return err
		}
		for _, e := range entries {
			owners[e.Cred] = e.Name
		}
	}
	d.mu.Lock()
	d.v.owners = owners
	d.mu.Unlock()
	return nil
}

// seedAllowlist adds the allowlist file's credentials to the allowlist,
// each once: those already on it, and those /disallow took off it (a
// tombstone in Allowed says so), are left as they are.
func (d *Directory) seedAllowlist(ctx context.Context, path string) error {
	entries, err := readListFile(path)
	if err != nil {
		return err
	}
	if err := d.lockW(ctx); err != nil {
		return err
	}
	defer d.unlockW()
	for _, e := range entries {
		if d.allowed(e.Cred) || d.wasDisallowed(e.Cred) {
			continue
		}
		rec := allowRecord{V: recordVersion, Cred: e.Cred.String(), By: "allowlist file", Since: d.now()}
		if err := d.backend.Put(ctx, Allowed, rec.Cred, encode(rec), 0); err != nil {
			return fmt.Errorf("access: seeding the allowlist from %s: %w", path, err)
		}
		d.mu.Lock()
		d.v.allowed[e.Cred] = rec
		d.mu.Unlock()
	}
	return nil
}

// errBusy: a change waited for the others longer than its context let it.
var errBusy = errors.New("the access store is busy with other changes; nothing changed, try again")

// lockW takes the write lock, or gives up when ctx ends.
func (d *Directory) lockW(ctx context.Context) error {
	select {
	case d.wmu <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w (%w)", errBusy, ctx.Err())
	}
}

// unlockW releases the write lock.
func (d *Directory) unlockW() { <-d.wmu }

// wasDisallowed reports whether /disallow took c off the allowlist.
func (d *Directory) wasDisallowed(c Credential) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.v.disallowed[c]
}

// allowed reports whether c is on the allowlist.
func (d *Directory) allowed(c Credential) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	_, ok := d.v.allowed[c]
	return ok
}

// Close ends the Directory's use of the room and its watches of the
// Backend; the Backend is the caller's to close.
func (d *Directory) Close() error {
	d.mu.Lock()
	d.closed = true
	d.room = nil
	stop := d.stopWatch
	d.mu.Unlock()
	if stop != nil {
		stop()
	}
	d.sweeps.Wait()
	return nil
}

// Attach registers the identity and moderation commands in r, on which
// moderation then acts.
func (d *Directory) Attach(r *room.Room) error {
	for _, c := range d.slashCommands() {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("access: %w", err)
		}
	}
	d.mu.Lock()
	d.room = r
	d.mu.Unlock()
	return nil
}

// attached returns the room moderation acts on, or nil.
func (d *Directory) attached() *room.Room {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.room
}

// store runs one Backend call, bounded in time. A failure other than
// ErrExists is logged; every failure is returned as a *storeError, which
// tells the user that nothing changed.
func (d *Directory) store(ctx context.Context, what string, call func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	err := call(ctx)
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrExists) {
		d.log.Error("access: store failed", "op", what, "err", err)
	}
	return &storeError{err: err}
}

// storeError is a Backend failure, worded for the user as ErrStore.
type storeError struct{ err error }

func (e *storeError) Error() string {
	if errors.Is(e.err, ErrFull) {
		return ErrStore.Error() + " (too many records)"
	}
	return ErrStore.Error()
}

func (e *storeError) Unwrap() []error { return []error{ErrStore, e.err} }

// The Directory answers the room's and the gateways' seams.
var (
	_ room.Policy = (*Directory)(nil)
	_ Door        = (*Directory)(nil)
	_ Console     = (*Directory)(nil)
)
