package jetlog

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatd/internal/testproc"
	"chatd/room"
)

// openReader opens a Reader on the embedded store in dir, closed when the
// test ends.
func openReader(t *testing.T, dir string) *Reader {
	t.Helper()
	r, err := OpenReader(context.Background(), Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatalf("OpenReader: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// collect is every event Each gives from since.
func collect(t *testing.T, r *Reader, since time.Time) []*room.Event {
	t.Helper()
	var got []*room.Event
	if err := r.Each(context.Background(), since, func(ev *room.Event) error {
		got = append(got, ev)
		return nil
	}); err != nil {
		t.Fatalf("Each: %v", err)
	}
	return got
}

// publishRaw stores data as a record, bypassing Append's checks.
func publishRaw(t *testing.T, l *Log, data []byte) {
	t.Helper()
	publishForeign(t, l, DefaultSubject, data)
}

// sameEvents fails unless got and want hold the same events, Seq and Time
// included, in order.
func sameEvents(t *testing.T, got, want []*room.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := *got[i], *want[i]
		if !g.Time.Equal(w.Time) {
			t.Fatalf("event %d: time %v, want %v", i, g.Time, w.Time)
		}
		g.Time, w.Time = time.Time{}, time.Time{}
		if g.Seq != w.Seq || g.Kind != w.Kind || g.From != w.From || g.To != w.To || g.Text != w.Text ||
			g.Count != w.Count || g.Joined != w.Joined || g.Left != w.Left || g.Reason != w.Reason {
			t.Fatalf("event %d: %+v, want %+v", i, g, w)
		}
	}
}

// TestReaderEach: an export reads every valid event forward, in several
// windows, from the first or from a time (the stream's time index),
// skipping and counting hostile records; the stream's limits are left as
// they were, and texts longer than the default limit are read.
func TestReaderEach(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{MaxMsgs: 5000, MaxText: 8192})
	var want []*room.Event
	add := func(ev *room.Event) {
		t.Helper()
		if _, err := l.Append(ev); err != nil {
			t.Fatal(err)
		}
		want = append(want, ev)
	}
	now := time.Now()
	add(&room.Event{Kind: room.Join, Time: now, From: "alice"})
	add(&room.Event{Kind: room.Chat, Time: now, From: "alice", Text: `"quotes" \back\ <&> ` + "\u00e9 \U0001F642 " + strings.Repeat("z", 8000)})
	add(&room.Event{Kind: room.Action, Time: now, From: "alice", Text: "waves"})
	add(&room.Event{Kind: room.NickChange, Time: now, From: "alice", To: "alicia"})
	add(&room.Event{Kind: room.Presence, Time: now, Count: 3, Joined: 0, Left: 1})
	add(&room.Event{Kind: room.Leave, Time: now, From: "alicia", Reason: room.Reason{Kind: room.ReasonQuit, Detail: "bye"}})
	add(&room.Event{Kind: room.Leave, Time: now, From: "mallory", Reason: room.Reason{Kind: room.ReasonKicked, Detail: "alice: spam"}})
	add(&room.Event{Kind: room.Leave, Time: now, From: "trudy", Reason: room.Reason{Kind: room.ReasonBanned, Detail: "alice until 2026-12-01 18:00:00 UTC: spam"}})
	bad := 0
	for _, h := range hostile {
		if len(h) > DefaultMaxText {
			continue // a text over the default limit: a reader takes it (chatd's --max-line may be higher)
		}
		publishRaw(t, l, h)
		bad++
	}
	for i := range 2 * readWindow {
		add(&room.Event{Kind: room.Chat, Time: time.Now(), From: "bob", Text: strings.Repeat("b", i%50+1)})
	}
	cut := time.Now()
	var after []*room.Event
	for range 3 {
		add(&room.Event{Kind: room.Chat, Time: time.Now(), From: "carol", Text: "late"})
		after = append(after, want[len(want)-1])
	}
	l.Close()

	r := openReader(t, dir)
	sameEvents(t, collect(t, r, time.Time{}), want)
	if r.n < 3 {
		t.Errorf("%d events read in %d windows", len(want)+bad, r.n)
	}
	if r.Skipped() != uint64(bad) {
		t.Errorf("skipped %d, want %d", r.Skipped(), bad)
	}
	sameEvents(t, collect(t, r, cut), after)
	if got := collect(t, r, time.Now().Add(time.Hour)); len(got) != 0 {
		t.Errorf("since an hour ahead: %d events", len(got))
	}
	sameEvents(t, collect(t, r, now.Add(-time.Hour)), want)
	info, err := r.l.stream.Info(context.Background())
	if err != nil || info.Config.MaxMsgs != 5000 {
		t.Errorf("the reader changed the stream's limits: MaxMsgs %d, %v", info.Config.MaxMsgs, err)
	}
}

// TestReaderEachStopsAtFnError: fn's error ends Each and is returned as
// it is.
func TestReaderEachStopsAtFnError(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	for range 3 {
		if _, err := l.Append(&room.Event{Kind: room.Join, Time: time.Now(), From: "alice"}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	r := openReader(t, dir)
	stop := errors.New("stop")
	calls := 0
	err := r.Each(context.Background(), time.Time{}, func(*room.Event) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Fatalf("Each = %v after %d calls, want stop after 1", err, calls)
	}
}

// TestReaderRefusesStoreInUse: a store a log holds (a running chatd) is
// refused with an *InUseError naming the process, and the log goes on.
func TestReaderRefusesStoreInUse(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	if _, err := l.Append(&room.Event{Kind: room.Join, Time: time.Now(), From: "alice"}); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(context.Background(), Options{Dir: dir, Logger: quiet})
	var inUse *InUseError
	if !errors.As(err, &inUse) || inUse.Holder != "process "+strconv.Itoa(os.Getpid()) {
		if r != nil {
			r.Close()
		}
		t.Fatalf("OpenReader of a store in use = %v, want an *InUseError naming this process", err)
	}
	if seq, err := l.Append(&room.Event{Kind: room.Join, Time: time.Now(), From: "bob"}); err != nil || seq != 2 {
		t.Fatalf("the log after the refused reader: seq %d, %v", seq, err)
	}
}

// TestReaderNoStore: a missing or empty directory is ErrNoStore, and the
// reader creates nothing; a store with no stream is ErrNoStore too.
func TestReaderNoStore(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nats")
	empty := t.TempDir()
	for _, dir := range []string{missing, empty} {
		if _, err := OpenReader(context.Background(), Options{Dir: dir, Logger: quiet}); !errors.Is(err, ErrNoStore) {
			t.Errorf("OpenReader(%s) = %v, want ErrNoStore", dir, err)
		}
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the reader created %s", missing)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("the reader wrote %d files into an empty directory", len(entries))
	}
	dir := t.TempDir()
	l := open(t, dir, Options{Stream: "OTHER", Subject: "chatd.other"})
	l.Close()
	if _, err := OpenReader(context.Background(), Options{Dir: dir, Logger: quiet}); !errors.Is(err, ErrNoStore) {
		t.Errorf("OpenReader of a store without the stream = %v, want ErrNoStore", err)
	}
}

// TestReaderEmptyStream: a store whose stream holds nothing exports
// nothing.
func TestReaderEmptyStream(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, Options{}).Close()
	if got := collect(t, openReader(t, dir), time.Time{}); len(got) != 0 {
		t.Fatalf("%d events from an empty stream", len(got))
	}
}

// TestReaderExternal: with an external server, a reader reads while the
// log appends (chatd running): the events up to where the stream was when
// Each began, in order, and nothing it has not been asked for.
func TestReaderExternal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server")
	}
	srv := testproc.StartNATS(t, buildNATS(t), t.TempDir(), "")
	opts := Options{URL: srv.URL(), Logger: quiet, Timeout: 2 * time.Second}
	l, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var want []*room.Event
	for i := range 300 {
		ev := &room.Event{Kind: room.Chat, Time: time.Now(), From: "alice", Text: strconv.Itoa(i)}
		if _, err := l.Append(ev); err != nil {
			t.Fatal(err)
		}
		want = append(want, ev)
	}
	r, err := OpenReader(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []*room.Event
	err = r.Each(context.Background(), time.Time{}, func(ev *room.Event) error {
		got = append(got, ev)
		if len(got) == 1 { // the room goes on meanwhile
			for range 5 {
				if _, err := l.Append(&room.Event{Kind: room.Chat, Time: time.Now(), From: "bob", Text: "later"}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, got, want)
	if _, err := OpenReader(context.Background(), Options{URL: srv.URL(), Stream: "NONE", Subject: "chatd.none", Logger: quiet}); !errors.Is(err, ErrNoStore) {
		t.Errorf("OpenReader of a missing stream = %v, want ErrNoStore", err)
	}
}

// TestReaderSkipsDeleted: messages deleted from the middle of the stream
// (by hand: chatd only expires the oldest) are gaps a reader steps over,
// in any window, at a window's edge too.
func TestReaderSkipsDeleted(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	deleted := map[uint64]bool{1: true, 10: true, 256: true, 257: true, 300: true, 600: true}
	var want []*room.Event
	for i := range 600 {
		ev := &room.Event{Kind: room.Chat, Time: time.Now(), From: "alice", Text: strconv.Itoa(i)}
		if _, err := l.Append(ev); err != nil {
			t.Fatal(err)
		}
		if !deleted[ev.Seq] {
			want = append(want, ev)
		}
	}
	for seq := range deleted {
		if err := l.stream.DeleteMsg(context.Background(), seq); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	r := openReader(t, dir)
	sameEvents(t, collect(t, r, time.Time{}), want)
	if r.Skipped() != 0 {
		t.Errorf("deleted messages counted as skipped: %d", r.Skipped())
	}
}

// storeFiles is every regular file under dir with its content.
func storeFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		files[path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// sameFiles fails unless dir holds exactly the files before, byte for byte.
func sameFiles(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := storeFiles(t, dir)
	for path, b := range before {
		if a, ok := after[path]; !ok {
			t.Errorf("%s was removed", path)
		} else if a != b {
			t.Errorf("%s was changed (%d bytes, was %d)", path, len(a), len(b))
		}
	}
	for path := range after {
		if _, ok := before[path]; !ok {
			t.Errorf("%s was created", path)
		}
	}
}

// TestReaderKeepsAnOldStore: a store whose events are all older than its
// stream's max age (a backup kept for a while) exports every one of them,
// says the stream's max age, leaves the store's files byte for byte as
// they were (before the fix, the server applied the max age as it loaded
// the stream: 0 events, and the backup emptied), and leaves no temporary
// copy behind.
func TestReaderKeepsAnOldStore(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dir := t.TempDir()
	l := open(t, dir, Options{MaxAge: time.Second})
	appendChats(t, l, 5)
	l.Close()
	time.Sleep(1200 * time.Millisecond) // the "backup" ages past the retention
	before := storeFiles(t, dir)

	r := openReader(t, dir)
	got := collect(t, r, time.Time{})
	if len(got) != 5 || got[0].Seq != 1 || got[4].Seq != 5 {
		t.Errorf("exported %d events of an aged store, want 5 (seqs 1-5)", len(got))
	}
	if r.MaxAge() != time.Second || r.Stored() != 5 {
		t.Errorf("MaxAge %v, Stored %d; want 1s, 5", r.MaxAge(), r.Stored())
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	sameFiles(t, dir, before)
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the reader left %d entries in TMPDIR (%s)", len(left), left[0].Name())
	}
	// The store is still whole: a second export has them all.
	if got := collect(t, openReader(t, dir), time.Time{}); len(got) != 5 {
		t.Errorf("a second export of the store gave %d events, want 5", len(got))
	}
}

// TestReaderNoRoomForCopy: a copy that would not fit in TMPDIR is
// ErrNoRoom, saying how much it needs, and nothing is copied.
func TestReaderNoRoomForCopy(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dir := t.TempDir()
	l := open(t, dir, Options{})
	appendChats(t, l, 3)
	l.Close()
	tempFree = func(string) (int64, bool) { return copyMargin, true }
	t.Cleanup(func() { tempFree = freeBytes })
	r, err := OpenReader(context.Background(), Options{Dir: dir, Logger: quiet})
	if err == nil {
		r.Close()
	}
	if !errors.Is(err, ErrNoRoom) || !strings.Contains(err.Error(), "TMPDIR") {
		t.Fatalf("OpenReader with no room for the copy = %v, want ErrNoRoom naming TMPDIR", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the refused reader left %d entries in TMPDIR", len(left))
	}
}

// TestReaderExportsADamagedStore: a store whose stream ends below its
// sequence floor (it lost its last events; chatd refuses it at start) is
// exported as far as it goes, with a warning naming both ends, and left
// as it was (no copy of it kept as damaged, nothing renamed).
func TestReaderExportsADamagedStore(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	dir := t.TempDir()
	l := open(t, dir, Options{})
	appendChats(t, l, 3)
	l.Close()
	if err := os.WriteFile(filepath.Join(dir, floorName), []byte("10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := storeFiles(t, dir)
	var logged strings.Builder
	r, err := OpenReader(context.Background(), Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatalf("OpenReader of a store that lost its tail: %v", err)
	}
	got := collect(t, r, time.Time{})
	r.Close()
	if len(got) != 3 {
		t.Errorf("exported %d events, want the 3 left", len(got))
	}
	if out := logged.String(); !strings.Contains(out, "the store is damaged") || !strings.Contains(out, "ends_at=3") || !strings.Contains(out, "had_reached=10") {
		t.Errorf("warning: %q", out)
	}
	sameFiles(t, dir, before)
}
