package jetlog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"chatd/room"
	"chatd/room/logtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, goleak.Cleanup(removeNATS)) }

// quiet is a logger for tests that expect warnings.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// open opens an embedded log in dir, closed when the test ends unless
// reopened.
func open(t *testing.T, dir string, opts Options) *Log {
	t.Helper()
	opts.Dir = dir
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	l, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// deleteStream deletes the stream named name, as an operator would.
// When an account's last stream goes, nats-server removes the account's
// emptied store directories in a goroutine of its own, which races with
// the next stream created ("could not create storage directory"). So a
// stream of no interest is kept beside it first, keeping those
// directories from emptying: a test that creates the stream again is
// then testing chatd, not that race.
func deleteStream(t *testing.T, js jetstream.JetStream, name string) {
	t.Helper()
	ctx := context.Background()
	aside := jetstream.StreamConfig{Name: name + "_ASIDE", Subjects: []string{"aside." + strings.ToLower(name)}, Storage: jetstream.FileStorage}
	if _, err := js.CreateStream(ctx, aside); err != nil {
		t.Fatalf("create a stream beside %s: %v", name, err)
	}
	if err := js.DeleteStream(ctx, name); err != nil {
		t.Fatalf("delete stream %s: %v", name, err)
	}
}

// hostile are stored records the log must skip.
var hostile = [][]byte{
	[]byte(`not json`),
	[]byte(`null`),
	[]byte(`{}`),
	[]byte(`{"v":2,"kind":"chat","time":"2026-12-01T00:00:00Z","from":"eve","text":"v2"}`),
	[]byte(`{"v":1,"kind":"private","time":"2026-12-01T00:00:00Z","from":"eve","to":"bob","text":"p"}`),
	[]byte(`{"v":1,"kind":"bye","time":"2026-12-01T00:00:00Z","text":"x"}`),
	[]byte(`{"v":1,"kind":"chat","time":"2026-12-01T00:00:00Z","from":"<bob>","text":"forged"}`),
	[]byte(`{"v":1,"kind":"chat","time":"2026-12-01T00:00:00Z","from":"eve","text":"\u001b[2J\u001b]0;owned\u0007"}`),
	[]byte(`{"v":1,"kind":"chat","time":"2026-12-01T00:00:00Z","from":"eve","text":"line\nbreak"}`),
	// A text over Options.MaxText but within MaxMaxText is read (it may
	// have been written under a larger --max-line); one over MaxMaxText
	// cannot be stored in a stream whose messages are bounded for the
	// default, and is refused by decode (TestLowerMaxTextKeepsOlderRecords).
	[]byte(`{"v":1,"kind":"chat","from":"eve","text":"no time"}`),
	[]byte(`{"v":1,"kind":"chat","time":"0001-01-01T00:00:00Z","from":"eve","text":"zero time"}`),
	[]byte(`{"v":1,"kind":"presence","time":"2026-12-01T00:00:00Z","count":-1}`),
	[]byte(`{"v":1,"kind":"presence","time":"2026-12-01T00:00:00Z","count":99999999999}`),
	[]byte(`{"v":1,"kind":"presence","time":"2026-12-01T00:00:00Z","from":"eve","count":1}`),
	[]byte(`{"v":1,"kind":"chat","time":"2026-12-01T00:00:00Z","from":"eve","text":"hi","count":5}`),
	[]byte(`{"v":1,"kind":"chat","time":"2026-12-01T00:00:00Z","from":"eve","to":"bob","text":"hi"}`),
	[]byte(`{"v":1,"kind":"chat","time":"2026-12-01T00:00:00Z","from":"eve","text":"hi","reason":{"kind":1}}`),
	[]byte(`{"v":1,"kind":"nick","time":"2026-12-01T00:00:00Z","from":"eve"}`),
	[]byte(`{"v":1,"kind":"chat","time":"2026-12-01T00:00:00Z","from":"eve","text":"hi","extra":1}`),
	[]byte(`{"v":1,"kind":"chat","time":"2026-12-01T00:00:00Z","from":"eve","text":"hi"}{"v":1}`),
	[]byte(`{"v":1,"kind":"chat","time":"2026-12-01T00:00:00Z","from":"eve","text":"hi"}}`),
	[]byte(`{"v":1,"kind":"chat","time":"2026-12-01T00:00:00Z","from":"eve","text":"hi"} x`),
	[]byte(`{"v":1,"kind":"chat","time":"2026-12-01T00:00:00Z","from":"eve","text":[[[[[[[[[[[[[[]]]]]]]]]]]]]]}`),
	[]byte(`{"v":1,"kind":"leave","time":"2026-12-01T00:00:00Z","from":"eve","reason":{"kind":1,"detail":"\u202eevil"}}`),
}

// TestConformance runs the Log table against the embedded JetStream log.
func TestConformance(t *testing.T) {
	logtest.Run(t, logtest.Factory{
		New: func(t *testing.T, keep int) room.Log {
			return open(t, t.TempDir(), Options{MaxMsgs: int64(keep)})
		},
		Reopen: func(t *testing.T, l room.Log) room.Log {
			old := l.(*Log)
			old.Close()
			return open(t, old.opts.Dir, Options{MaxMsgs: old.opts.MaxMsgs})
		},
		Raw: func(t *testing.T, l room.Log, data []byte) {
			t.Helper()
			publishForeign(t, l.(*Log), DefaultSubject, data)
		},
		Skipped: func(l room.Log) uint64 { return l.(*Log).Skipped() },
		Hostile: hostile,
	})
}

// TestUnknownReasonKind: a leave reason of a kind this program does not
// know (a newer writer's) is read as ReasonOther with its words.
func TestUnknownReasonKind(t *testing.T) {
	ev, err := decode([]byte(`{"v":1,"kind":"leave","time":"2026-12-01T00:00:00Z","from":"eve","reason":{"kind":200,"detail":"teleported"}}`), 7, DefaultMaxText, maxRecordBytes(DefaultMaxText))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Seq != 7 || ev.Reason != (room.Reason{Kind: room.ReasonOther, Detail: "teleported"}) {
		t.Fatalf("decoded %+v", *ev)
	}
}

// TestAppendRefusesWhatItCannotRead: Append refuses events that Replay
// would skip, and private ones, storing nothing.
func TestAppendRefusesWhatItCannotRead(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	now := time.Now()
	for _, ev := range []*room.Event{
		{Kind: room.Private, Time: now, From: "a", To: "b", Text: "secret"},
		{Kind: room.Chat, Time: now, From: "a", Text: strings.Repeat("x", DefaultMaxText+1)},
		{Kind: room.Chat, Time: now, From: "bad nick", Text: "x"},
		{Kind: room.Chat, From: "a", Text: "no time"},
	} {
		if seq, err := l.Append(ev); err == nil {
			t.Errorf("Append(%+v) = %d, want an error", *ev, seq)
		}
	}
	if got, _ := l.Replay(0, 10); len(got) != 0 {
		t.Fatalf("stored %d events", len(got))
	}
}

// TestOversizedRecordRefused: the stream refuses a message bigger than any
// record, so no reader ever loads one.
func TestOversizedRecordRefused(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	js, err := jetstream.New(l.Conn())
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, maxRecordBytes(DefaultMaxText)+1)
	if _, err := js.Publish(context.Background(), DefaultSubject, big); err == nil {
		t.Fatal("the stream stored an oversized record")
	}
}

// TestForeignDirectory: a store directory holding files but no marker is
// refused and left as it was.
func TestForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "important.txt")
	if err := os.WriteFile(junk, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), Options{Dir: dir, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "not a chatd store") {
		t.Fatalf("Open = %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(junk); string(b) != "keep me" {
		t.Fatal("the foreign file was changed")
	}
	if err := os.WriteFile(filepath.Join(dir, markerName), []byte("something else 9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), Options{Dir: dir, Logger: quiet}); err == nil || !strings.Contains(err.Error(), "unknown store format") {
		t.Fatalf("Open with a foreign marker = %v", err)
	}
}

// TestCorruptStream: a store whose stream the server cannot load is an
// error, and the stream's files are left alone.
func TestCorruptStream(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	if _, err := l.Append(&room.Event{Kind: room.Join, Time: time.Now(), From: "alice"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	sdir := filepath.Join(dir, "jetstream", "$G", "streams", DefaultStream)
	meta := filepath.Join(sdir, "meta.inf")
	if err := os.WriteFile(meta, []byte("\x00garbage{{{"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), Options{Dir: dir, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "could not load it") {
		t.Fatalf("Open = %v, want an error about the stream", err)
	}
	kept, _ := filepath.Glob(filepath.Join(dir, damagedPrefix+"*", "meta.inf"))
	for _, f := range append(kept, meta) {
		if b, _ := os.ReadFile(f); string(b) != "\x00garbage{{{" {
			t.Errorf("%s is %.40q", f, b)
		}
	}
	if len(kept) != 1 {
		t.Errorf("kept %v", kept)
	}
}

// TestForeignStream: a stream of chatd's name with another subject is
// refused, not changed.
func TestForeignStream(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{Subject: "someone.else"})
	l.Close()
	_, err := Open(context.Background(), Options{Dir: dir, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "is not chatd's") {
		t.Fatalf("Open = %v, want a refusal", err)
	}
	l = open(t, dir, Options{Subject: "someone.else"}) // still as it was
	info, err := l.stream.Info(context.Background())
	if err != nil || info.Config.Subjects[0] != "someone.else" {
		t.Fatalf("stream now %v, %v", info, err)
	}
}

// TestLimitsFollowOptions: reopening with other limits updates the stream.
func TestLimitsFollowOptions(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{MaxMsgs: 10})
	l.Close()
	l = open(t, dir, Options{MaxMsgs: 3, MaxAge: time.Hour})
	cfg := l.stream.CachedInfo().Config
	if cfg.MaxMsgs != 3 || cfg.MaxAge != time.Hour {
		t.Fatalf("limits %d %v, want 3 1h", cfg.MaxMsgs, cfg.MaxAge)
	}
	if _, err := os.Stat(filepath.Join(dir, beforeStartName)); !os.IsNotExist(err) {
		t.Fatalf("the copy from before the start is still there after a sound start: %v", err)
	}
	l.Close()
	// A MaxAge below the default duplicate window (2 minutes) on a store
	// created with it: the window follows, or the server refuses the
	// update and chatd does not start (review finding 3).
	for _, age := range []time.Duration{90 * time.Second, time.Minute, time.Second, time.Hour} {
		l, err := Open(context.Background(), Options{Dir: dir, MaxAge: age, Logger: quiet})
		if err != nil {
			t.Fatalf("reopen with MaxAge %v: %v", age, err)
		}
		cfg := l.stream.CachedInfo().Config
		l.Close()
		if want := min(2*time.Minute, age); cfg.MaxAge != age || cfg.Duplicates != want {
			t.Fatalf("MaxAge %v: stream MaxAge %v, duplicate window %v; want %v", age, cfg.MaxAge, cfg.Duplicates, want)
		}
	}
}

// TestReplaySkipsDeleted: a message deleted from the middle of the stream
// (by an operator with the nats tool) leaves a gap Replay steps over.
func TestReplaySkipsDeleted(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	var evs []*room.Event
	for i := range 5 {
		ev := &room.Event{Kind: room.Chat, Time: time.Now(), From: "alice", Text: strings.Repeat("x", i+1)}
		if _, err := l.Append(ev); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if err := l.stream.DeleteMsg(context.Background(), evs[2].Seq); err != nil {
		t.Fatal(err)
	}
	got, err := l.Replay(0, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Seq != evs[1].Seq || got[1].Seq != evs[3].Seq || got[2].Seq != evs[4].Seq {
		t.Fatalf("Replay(0, 3) = %d events, want seqs %d %d %d", len(got), evs[1].Seq, evs[3].Seq, evs[4].Seq)
	}
	if l.Skipped() != 0 {
		t.Fatalf("a deleted message counted as skipped")
	}
}

// TestSkippedIsLogged: a Replay that skips invalid records says so once,
// with the count and the first reason.
func TestSkippedIsLogged(t *testing.T) {
	var buf strings.Builder
	l := open(t, t.TempDir(), Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	for _, raw := range hostile[:3] {
		publishForeign(t, l, DefaultSubject, raw)
	}
	if got, err := l.Replay(0, 10); err != nil || len(got) != 0 {
		t.Fatalf("Replay = %d events, %v", len(got), err)
	}
	out := buf.String()
	if strings.Count(out, "invalid stored records skipped") != 1 || !strings.Contains(out, "skipped=3") || !strings.Contains(out, "seq 3") {
		t.Fatalf("log:\n%s", out)
	}
}

// TestMaxTextBounded: Open refuses a text limit that would not fit a
// message.
func TestMaxTextBounded(t *testing.T) {
	if _, err := Open(context.Background(), Options{Dir: t.TempDir(), MaxText: MaxMaxText + 1, Logger: quiet}); err == nil {
		t.Fatal("Open accepted an unbounded text limit")
	}
}

// TestDamagedBlocks: message blocks the server cannot read (it recovers
// them as an empty stream, only warning) make Open fail rather than number
// new events from 1 again; the files are left as they are.
func TestDamagedBlocks(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	for range 10 {
		if _, err := l.Append(&room.Event{Kind: room.Chat, Time: time.Now(), From: "alice", Text: "hi"}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	blocks, err := filepath.Glob(filepath.Join(dir, "jetstream", "$G", "streams", DefaultStream, "msgs", "*"))
	if err != nil || len(blocks) == 0 {
		t.Fatalf("no message blocks: %v", err)
	}
	for _, b := range blocks {
		if err := os.WriteFile(b, []byte("garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, err = Open(context.Background(), Options{Dir: dir, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Fatalf("Open = %v, want an error about the damage", err)
	}
	kept, _ := filepath.Glob(filepath.Join(dir, damagedPrefix+"*"))
	if len(kept) != 1 {
		t.Fatalf("kept %v, want one copy of the files", kept)
	}
	for _, b := range blocks {
		data, err := os.ReadFile(filepath.Join(kept[0], "msgs", filepath.Base(b)))
		if err != nil || string(data) != "garbage" {
			t.Errorf("%s kept as %.40q, %v", filepath.Base(b), data, err)
		}
	}
	// A refused store stays refused (a restart by systemd must not accept
	// it and number events from 1 again): the refusal leaves the floor as
	// it was, and the kept copy, until the operator clears it, refuses too.
	if b, err := os.ReadFile(filepath.Join(dir, floorName)); err != nil || strings.TrimSpace(string(b)) != "10" {
		t.Errorf("floor after the refusal: %q, %v; want 10", b, err)
	}
	if l, err := Open(context.Background(), Options{Dir: dir, Logger: quiet}); err == nil {
		seq, _ := l.Append(&room.Event{Kind: room.Chat, Time: time.Now(), From: "alice", Text: "hi"})
		l.Close()
		t.Fatalf("second Open of the damaged store succeeded; next seq %d", seq)
	} else if !strings.Contains(err.Error(), kept[0]) {
		t.Errorf("second Open = %v, want it to name %s", err, kept[0])
	}
	if err := os.RemoveAll(kept[0]); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(context.Background(), Options{Dir: dir, Logger: quiet}); err == nil {
		l.Close()
		t.Fatal("Open after the copy was removed accepted the store below its floor")
	}
}

// TestFloorNeverLowered: writing a floor below the recorded one keeps the
// recorded one.
func TestFloorNeverLowered(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	l.writeFloor(50)
	l.writeFloor(7)
	if b, err := os.ReadFile(filepath.Join(dir, floorName)); err != nil || strings.TrimSpace(string(b)) != "50" {
		t.Fatalf("floor %q, %v; want 50", b, err)
	}
}

// TestStoreLocked: a second Open of a store in use is refused, naming the
// process, and leaves the first log and its store alone (review finding
// 5); after Close the store opens again.
func TestStoreLocked(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	if _, err := l.Append(&room.Event{Kind: room.Join, Time: time.Now(), From: "alice"}); err != nil {
		t.Fatal(err)
	}
	l2, err := Open(context.Background(), Options{Dir: dir, Logger: quiet})
	if err == nil {
		seq, _ := l2.Append(&room.Event{Kind: room.Join, Time: time.Now(), From: "bob"})
		l2.Close()
		t.Fatalf("a second Open of a store in use succeeded (its next seq %d)", seq)
	}
	if want := fmt.Sprintf("in use by process %d", os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Errorf("second Open = %v, want %q", err, want)
	}
	if seq, err := l.Append(&room.Event{Kind: room.Join, Time: time.Now(), From: "carol"}); err != nil || seq != 2 {
		t.Fatalf("the first log after the refused Open: seq %d, %v", seq, err)
	}
	l.Close()
	l3 := open(t, dir, Options{})
	if got, err := l3.Replay(0, 10); err != nil || len(got) != 2 {
		t.Fatalf("after Close: %d events, %v", len(got), err)
	}
}

// TestEmbeddedNoReconnectBuffer: the embedded connection has the external
// one's options: no reconnect buffer (a publish made while the connection
// is down must fail, not be sent after the room was told it failed), and
// it reconnects forever (review finding 10).
func TestEmbeddedNoReconnectBuffer(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	if o := l.Conn().Opts; o.ReconnectBufSize != -1 || o.MaxReconnect != -1 || o.Name != "chatd" {
		t.Fatalf("embedded connection: ReconnectBufSize %d, MaxReconnect %d, Name %q; want -1, -1, chatd",
			o.ReconnectBufSize, o.MaxReconnect, o.Name)
	}
}

// TestAppendRefusesSeqGoingBack: if the stream is replaced under the log
// (lost and created again, on an external server or by hand), the next
// ack numbers from 1 again; Append refuses it, and every Append and Replay
// after, rather than hand out sequences members were already shown
// (review finding 3).
func TestAppendRefusesSeqGoingBack(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	for range 5 {
		if _, err := l.Append(&room.Event{Kind: room.Join, Time: time.Now(), From: "alice"}); err != nil {
			t.Fatal(err)
		}
	}
	js, err := jetstream.New(l.Conn())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	deleteStream(t, js, DefaultStream)
	if _, err := js.CreateStream(ctx, l.streamConfig()); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		seq, err := l.Append(&room.Event{Kind: room.Join, Time: time.Now(), From: "bob"})
		if err == nil || !strings.Contains(err.Error(), "went back") {
			t.Fatalf("Append %d on the new stream = %d, %v; want an error", i, seq, err)
		}
	}
	if got, err := l.Replay(0, 10); err == nil {
		t.Fatalf("Replay after the stream went back = %d events, no error", len(got))
	}
}
