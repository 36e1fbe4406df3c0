package jetlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"chatd/internal/testproc"
	"chatd/room"
)

// openShared opens a shared log of stream on the server at url, closed
// when the test ends.
func openShared(t *testing.T, url, stream string) *Log {
	t.Helper()
	return openSharedWith(t, Options{URL: url, Stream: stream, Timeout: 2 * time.Second})
}

// openSharedWith opens a shared log with opts (URL and Stream set; the
// subject follows the stream), closed when the test ends.
func openSharedWith(t *testing.T, opts Options) *Log {
	t.Helper()
	opts.Shared, opts.Logger, opts.Subject = true, quiet, "chatd."+strings.ToLower(opts.Stream)
	l, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// feed is what a Follower delivered, for a test.
type feed struct {
	mu  sync.Mutex
	evs []*room.Event
}

func (f *feed) deliver(ev *room.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.evs = append(f.evs, ev)
}

func (f *feed) got() []*room.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.evs)
}

// follow starts a Follower of l after after, stopped when the test ends.
func follow(t *testing.T, l *Log, after uint64) (*Follower, *feed) {
	t.Helper()
	fd := &feed{}
	f, err := l.Follow(after, fd.deliver)
	if err != nil {
		t.Fatalf("Follow: %v", err)
	}
	t.Cleanup(f.Stop)
	return f, fd
}

// waitFor waits until cond holds, or fails the test after 15s saying what.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitDelivered waits until f delivered through seq.
func waitDelivered(t *testing.T, f *Follower, seq uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("the feed to deliver through %d", seq), func() bool { return f.Delivered() >= seq })
}

// seqTexts is each event's sequence and text.
func seqTexts(evs []*room.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = fmt.Sprintf("%d:%s", ev.Seq, ev.Text)
	}
	return out
}

func lastSeqOf(t *testing.T, l *Log) uint64 {
	t.Helper()
	info, err := l.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// TestShared runs the shared log (several chatd nodes on one stream)
// against a real nats-server process, one stream per case; the last case
// restarts the server.
func TestShared(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server")
	}
	srv := testproc.StartNATS(t, buildNATS(t), t.TempDir(), "")

	// Concurrent: two nodes append from several goroutines each, one by
	// batches; both feeds deliver the same sequence, each event once, under
	// the sequence its append returned.
	t.Run("Concurrent", func(t *testing.T) {
		a, b := openShared(t, srv.URL(), "CONC"), openShared(t, srv.URL(), "CONC")
		fa, feedA := follow(t, a, 0)
		fb, feedB := follow(t, b, 0)
		const writers, each = 3, 40
		acked := map[string]uint64{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, node := range []struct {
			name string
			l    *Log
		}{{"a", a}, {"b", b}} {
			for w := range writers {
				wg.Go(func() {
					var prev uint64
					for i := range each {
						text := fmt.Sprintf("%s-%d-%d", node.name, w, i)
						seq, err := node.l.Append(chat(text))
						if err != nil {
							t.Errorf("Append %s: %v", text, err)
							return
						}
						if seq <= prev {
							t.Errorf("Append %s acked as %d after %d", text, seq, prev)
						}
						prev = seq
						mu.Lock()
						acked[text] = seq
						mu.Unlock()
					}
				})
			}
			wg.Go(func() {
				batch := make([]*room.Event, each)
				for i := range batch {
					batch[i] = chat(fmt.Sprintf("%s-batch-%d", node.name, i))
				}
				if err := node.l.AppendBatch(batch); err != nil {
					t.Errorf("AppendBatch: %v", err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for i, ev := range batch {
					if i > 0 && ev.Seq <= batch[i-1].Seq {
						t.Errorf("batch seqs do not grow: %d after %d", ev.Seq, batch[i-1].Seq)
					}
					acked[ev.Text] = ev.Seq
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		total := uint64(2 * (writers + 1) * each)
		if last := lastSeqOf(t, a); last != total {
			t.Fatalf("the stream ends at %d, want %d", last, total)
		}
		waitDelivered(t, fa, total)
		waitDelivered(t, fb, total)
		gotA, gotB := seqTexts(feedA.got()), seqTexts(feedB.got())
		if !slices.Equal(gotA, gotB) {
			t.Fatalf("the feeds differ:\n%v\n%v", gotA, gotB)
		}
		if len(gotA) != int(total) {
			t.Fatalf("the feed delivered %d events, want %d", len(gotA), total)
		}
		for i, ev := range feedA.got() {
			if ev.Seq != uint64(i+1) || acked[ev.Text] != ev.Seq {
				t.Fatalf("event %d: %d:%s, acked as %d", i, ev.Seq, ev.Text, acked[ev.Text])
			}
		}
		// Both logs read the whole stream, every node's events.
		for _, l := range []*Log{a, b} {
			evs, err := l.Replay(0, 10)
			if err != nil || len(evs) != 10 || evs[9].Seq != total {
				t.Fatalf("Replay = %v, %v; want the last 10 up to %d", seqTexts(evs), err, total)
			}
			page, err := l.Before(total+1, 5)
			if err != nil || len(page) != 5 || page[4].Seq != total {
				t.Fatalf("Before = %v, %v", seqTexts(page), err)
			}
			if last, err := l.LastSeq(); err != nil || last != total {
				t.Fatalf("LastSeq = %d, %v", last, err)
			}
		}
		if a.LogID() != b.LogID() || a.LogID() == "" {
			t.Fatalf("LogID differs: %q and %q", a.LogID(), b.LogID())
		}
		// A feed from the middle delivers the rest, exactly.
		fm, feedM := follow(t, b, total/2)
		waitDelivered(t, fm, total)
		if got := seqTexts(feedM.got()); !slices.Equal(got, gotA[total/2:]) {
			t.Fatalf("the feed from %d delivered\n%v\nwant\n%v", total/2, got, gotA[total/2:])
		}
	})

	// OnceBatch: AppendOnceBatch stores each id once, a batch's ids
	// already stored (by AppendOnce, or by another batch) are not stored
	// again but get their sequence, and the others' order is the batch's.
	t.Run("OnceBatch", func(t *testing.T) {
		a, b := openShared(t, srv.URL(), "ONCEB"), openShared(t, srv.URL(), "ONCEB")
		leave := func(nick string) *room.Event {
			return &room.Event{Kind: room.Leave, Time: time.Now(), From: nick, Reason: room.Reason{Kind: room.ReasonLost, Detail: "its node c stopped answering"}}
		}
		const n = 600 // more than maxBatch
		first, err := a.AppendOnce(leave("m7"), "gone.c.x.7")
		if err != nil {
			t.Fatal(err)
		}
		evs, ids := make([]*room.Event, n), make([]string, n)
		for i := range evs {
			evs[i], ids[i] = leave(fmt.Sprintf("m%d", i)), fmt.Sprintf("gone.c.x.%d", i)
		}
		if err := b.AppendOnceBatch(evs, ids); err != nil {
			t.Fatal(err)
		}
		if evs[7].Seq != first {
			t.Fatalf("the leave stored before got Seq %d, want %d", evs[7].Seq, first)
		}
		again := make([]*room.Event, n)
		for i := range again {
			again[i] = leave(fmt.Sprintf("m%d", i))
		}
		if err := a.AppendOnceBatch(again, ids); err != nil {
			t.Fatal(err)
		}
		for i := range evs {
			if evs[i].Seq == 0 || again[i].Seq != evs[i].Seq || i > 0 && i != 7 && i != 8 && evs[i].Seq <= evs[i-1].Seq {
				t.Fatalf("event %d: Seq %d, again %d", i, evs[i].Seq, again[i].Seq)
			}
		}
		if _, err := a.Append(chat("after")); err != nil {
			t.Fatalf("Append after a batch of duplicates: %v", err)
		}
		stored, err := b.Replay(0, 2*n)
		if err != nil || len(stored) != n+1 {
			t.Fatalf("Replay = %d events, %v; want %d", len(stored), err, n+1)
		}
		if err := b.AppendOnceBatch(evs, ids[:1]); err == nil {
			t.Fatal("AppendOnceBatch with fewer ids than events worked")
		}
	})

	// Once: the same id appended by two nodes is stored once; both get its
	// sequence and no error.
	t.Run("Once", func(t *testing.T) {
		a, b := openShared(t, srv.URL(), "ONCE"), openShared(t, srv.URL(), "ONCE")
		if _, err := a.Append(chat("first")); err != nil {
			t.Fatal(err)
		}
		id := "node-b/incarnation 7/bob\x00" + strings.Repeat("é", 300) // any id: hashed into a safe header
		left := &room.Event{Kind: room.Leave, Time: time.Now(), From: "bob", Reason: room.Reason{Kind: room.ReasonLost, Detail: "its node b stopped answering"}}
		s1, err := a.AppendOnce(left, id)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := b.AppendOnce(&room.Event{Kind: room.Leave, Time: time.Now(), From: "bob", Reason: room.Reason{Kind: room.ReasonLost, Detail: "its node b stopped answering"}}, id)
		if err != nil || s2 != s1 {
			t.Fatalf("the second AppendOnce = %d, %v; want %d", s2, err, s1)
		}
		s3, err := b.AppendOnce(left, id+"x")
		if err != nil || s3 != s1+1 {
			t.Fatalf("AppendOnce with another id = %d, %v; want %d", s3, err, s1+1)
		}
		if _, err := b.Append(chat("after")); err != nil {
			t.Fatalf("Append after a duplicate: %v", err)
		}
		evs, err := b.Replay(0, 10)
		if err != nil || len(evs) != 4 {
			t.Fatalf("Replay = %v, %v; want first, two leaves, after", seqTexts(evs), err)
		}
		if got := onceID(id); len(got) > 64 || strings.ContainsFunc(got, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) {
			t.Fatalf("onceID = %q", got)
		}
	})

	// Reconcile: a message of a that was stored though its ack never came
	// is deleted by a's Check; b's events around it are the room's, and
	// stay; neither log breaks.
	t.Run("Reconcile", func(t *testing.T) {
		a, b := openShared(t, srv.URL(), "RECON"), openShared(t, srv.URL(), "RECON")
		if _, err := a.Append(chat("a1")); err != nil {
			t.Fatal(err)
		}
		// As a publish whose ack was lost: stored, unknown to a.
		js, err := jetstream.New(a.Conn())
		if err != nil {
			t.Fatal(err)
		}
		data, err := encode(chat("ghost"), a.opts.MaxText)
		if err != nil {
			t.Fatal(err)
		}
		m := a.message(data)
		a.unacked.add(m.Header.Get(writerHeader), a.lastSeq.Load())
		if _, err := b.Append(chat("b1")); err != nil {
			t.Fatal(err)
		}
		ack, err := js.PublishMsg(context.Background(), m)
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{"b2", "b3"} {
			if _, err := b.Append(chat(text)); err != nil {
				t.Fatal(err)
			}
		}
		for _, l := range []*Log{b, a, b} {
			if err := l.Check(context.Background()); err != nil {
				t.Fatalf("Check: %v", err)
			}
		}
		if _, err := a.stream.GetMsg(context.Background(), ack.Sequence); !errors.Is(err, jetstream.ErrMsgNotFound) {
			t.Fatalf("the never-acked message %d is still there (%v)", ack.Sequence, err)
		}
		if _, err := a.Append(chat("a2")); err != nil {
			t.Fatalf("Append after Check: %v", err)
		}
		evs, err := b.Replay(0, 10)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"1:a1", "2:b1", "4:b2", "5:b3", "6:a2"}
		if got := seqTexts(evs); !slices.Equal(got, want) {
			t.Fatalf("Replay = %v, want %v", got, want)
		}
	})

	// Slow: a deliver that blocks makes the feed fall behind (Lag), beyond
	// what a batch holds ahead, and longer than a batch lasts; released,
	// it delivers everything, once each.
	t.Run("Slow", func(t *testing.T) {
		a := openShared(t, srv.URL(), "SLOW")
		followExpiry, followHeartbeat = time.Second, 300*time.Millisecond
		defer func() { followExpiry, followHeartbeat = 5*time.Second, time.Second }()
		release := make(chan struct{})
		fd := &feed{}
		f, err := a.Follow(0, func(ev *room.Event) {
			<-release
			fd.deliver(ev)
		})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Stop()
		const n = 2*followMaxMsgs + 10
		batch := make([]*room.Event, n)
		for i := range batch {
			batch[i] = chat(fmt.Sprint(i + 1))
		}
		if err := a.AppendBatch(batch[:maxBatch]); err != nil {
			t.Fatal(err)
		}
		if err := a.AppendBatch(batch[maxBatch:]); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a lag of the events held", func() bool {
			events, behind := f.Lag()
			return events == n && behind > 0
		})
		time.Sleep(2 * followExpiry) // not to synchronise: to outlast the batch
		close(release)
		waitDelivered(t, f, n)
		got := fd.got()
		for i, ev := range got {
			if ev.Seq != uint64(i+1) || ev.Text != fmt.Sprint(i+1) {
				t.Fatalf("event %d is %d:%s", i, ev.Seq, ev.Text)
			}
		}
		if events, behind := f.Lag(); events != 0 || behind != 0 {
			t.Fatalf("Lag after catching up = %d, %v", events, behind)
		}
	})

	// Invalid: a record that is not an event (another program's, or
	// forged) is skipped by the feed, counted, and does not stop it.
	t.Run("Invalid", func(t *testing.T) {
		a := openShared(t, srv.URL(), "INVALID")
		f, fd := follow(t, a, 0)
		if _, err := a.Append(chat("one")); err != nil {
			t.Fatal(err)
		}
		publishForeign(t, a, a.opts.Subject, []byte(`{"kind":"chat","text":`))
		publishForeign(t, a, a.opts.Subject, []byte(strings.Repeat("x", 1000)))
		if _, err := a.Append(chat("two")); err != nil {
			t.Fatal(err)
		}
		waitDelivered(t, f, 4)
		if got, want := seqTexts(fd.got()), []string{"1:one", "4:two"}; !slices.Equal(got, want) {
			t.Fatalf("delivered %v, want %v", got, want)
		}
		if f.Skipped() != 2 {
			t.Fatalf("Skipped = %d, want 2", f.Skipped())
		}
	})

	// Stall: an append to a server stalled past the timeout (SIGSTOP)
	// fails; the server stores it once it runs again; Check deletes it,
	// and nothing else.
	t.Run("Stall", func(t *testing.T) {
		// No retry here (the server would be stopped for the whole
		// budget otherwise): the election wait is tested in election_test.go.
		opts := Options{URL: srv.URL(), Stream: "STALL", Timeout: 2 * time.Second, ElectionWait: -1}
		a, b := openSharedWith(t, opts), openSharedWith(t, opts)
		f, _ := follow(t, a, 0) // it delivers the ghost, into a's recent events
		if _, err := b.Append(chat("b1")); err != nil {
			t.Fatal(err)
		}
		srv.Pause(t)
		_, err := a.Append(chat("ghost"))
		srv.Resume()
		if err == nil {
			t.Fatal("Append worked with the server stopped")
		}
		waitFor(t, "the ghost to be stored", func() bool { return lastSeqOf(t, b) == 2 })
		if _, err := b.Append(chat("b2")); err != nil {
			t.Fatal(err)
		}
		waitDelivered(t, f, 3)
		if err := a.Check(context.Background()); err != nil {
			t.Fatalf("Check: %v", err)
		}
		for _, l := range []*Log{a, b} {
			evs, err := l.Replay(0, 10)
			if got, want := seqTexts(evs), []string{"1:b1", "3:b2"}; err != nil || !slices.Equal(got, want) {
				t.Fatalf("Replay = %v, %v; want %v", got, err, want)
			}
		}
	})

	// Restart (last: it restarts the server): a feed goes on after the
	// server's loss from the last event it delivered, without a gap or a
	// repeat.
	t.Run("Restart", func(t *testing.T) {
		a := openShared(t, srv.URL(), "RESTART")
		f, fd := follow(t, a, 0)
		for i := range 5 {
			if _, err := a.Append(chat(fmt.Sprint("before ", i))); err != nil {
				t.Fatal(err)
			}
		}
		waitDelivered(t, f, 5)
		srv.Kill()
		srv = srv.Restart(t)
		for i := range 5 {
			waitFor(t, "an append after the restart", func() bool {
				_, err := a.Append(chat(fmt.Sprint("after ", i)))
				return err == nil
			})
		}
		waitDelivered(t, f, 10)
		got := fd.got()
		if len(got) != 10 {
			t.Fatalf("delivered %v", seqTexts(got))
		}
		for i, ev := range got {
			if ev.Seq != uint64(i+1) {
				t.Fatalf("delivered %v", seqTexts(got))
			}
		}
	})
}

// TestSharedOptionsRefused: options that cannot work are refused at
// Open, saying why, before anything is started or dialled.
func TestSharedOptionsRefused(t *testing.T) {
	for name, c := range map[string]struct {
		opts Options
		want string
	}{
		"shared without URL": {Options{Dir: t.TempDir(), Shared: true}, "external NATS server"},
		"cert without key":   {Options{URL: "nats://127.0.0.1:1", CertFile: "c.pem"}, "both its certificate file and its key file"},
		"key without cert":   {Options{URL: "nats://127.0.0.1:1", KeyFile: "k.pem"}, "both its certificate file and its key file"},
		"replicas embedded":  {Options{Dir: t.TempDir(), Replicas: 3}, "external NATS cluster"},
		"too many replicas":  {Options{URL: "nats://127.0.0.1:1", Replicas: 6}, "1 to 5"},
	} {
		c.opts.Logger = quiet
		l, err := Open(context.Background(), c.opts)
		if err == nil {
			l.Close()
			t.Errorf("%s: Open worked", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Open = %v, want it to say %q", name, err, c.want)
		}
	}
}

// TestAppendOnceNotShared: AppendOnce needs a shared stream.
func TestAppendOnceNotShared(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	if _, err := l.AppendOnce(chat("x"), "id"); !errors.Is(err, ErrNotShared) {
		t.Fatalf("AppendOnce = %v, want ErrNotShared", err)
	}
	if err := l.AppendOnceBatch([]*room.Event{chat("x")}, []string{"id"}); !errors.Is(err, ErrNotShared) {
		t.Fatalf("AppendOnceBatch = %v, want ErrNotShared", err)
	}
}
