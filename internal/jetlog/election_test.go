package jetlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"chatd/internal/testproc"
	"chatd/room"
)

// TestSharedElection: three clustered nats-servers keep the stream
// (Replicas 3); the one leading it is killed. While the others elect a
// new leader, two nodes append (Append and AppendBatch, concurrently):
// no append fails, every event is stored once, both feeds deliver the
// same sequence, and the room of the node connected to the dead server
// is not told the store is down (it reconnects at once). Then, with one
// server left (no quorum), the room is told (the feed's watchdog sees the
// leader hear from too few replicas, or the stream silent), and an append
// fails after about its budget (Options.ElectionWait); with none left,
// Close cuts a retrying append short.
func TestSharedElection(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server")
	}
	c := testproc.StartNATSClusterOf(t, buildNATS(t), 3)
	open := func(opts Options) *Log {
		var l *Log
		waitFor(t, "the cluster to take the stream", func() bool {
			var err error
			l, err = Open(context.Background(), opts)
			return err == nil
		})
		t.Cleanup(func() { l.Close() })
		return l
	}
	opts := Options{Shared: true, Replicas: 3, Stream: "ELECT", Subject: "chatd.elect", Logger: quiet,
		Timeout: 2 * time.Second, ElectionWait: 30 * time.Second}

	leader := -1
	t.Run("LeaderKilled", func(t *testing.T) {
		opts.URL = c.URLs()
		probe := open(opts)
		leader = streamLeader(t, probe)
		// a is connected to the leader (first in its list), b to another.
		var others []string
		for i := range c.N() {
			if i != leader {
				others = append(others, c.URL(i))
			}
		}
		opts.URL = strings.Join(append([]string{c.URL(leader)}, others...), ",")
		a := open(opts)
		opts.URL = strings.Join(others, ",")
		b := open(opts)
		fa, feedA := follow(t, a, 0)
		fb, feedB := follow(t, b, 0)
		var downs atomic.Int32
		a.WatchStore(func(error) { downs.Add(1) }, func() {})
		c.Kill(leader)
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for name, l := range map[string]*Log{"a": a, "b": b} {
			wg.Go(func() { errs <- appendSome(l, name) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				evs, rerr := probe.Replay(0, 100)
				t.Fatalf("%v\nstored: %v (%v)", err, seqTexts(evs), rerr)
			}
		}
		t.Logf("appended in %v, %d and %d retries", time.Since(start), a.Retried(), b.Retried())
		if n := downs.Load(); n > 0 {
			t.Fatalf("the room was told %d times that the store is down", n)
		}
		last := max(lastSeqOf(t, a), lastSeqOf(t, b))
		waitDelivered(t, fa, last)
		waitDelivered(t, fb, last)
		gotA, gotB := seqTexts(feedA.got()), seqTexts(feedB.got())
		if !slices.Equal(gotA, gotB) {
			t.Fatalf("the feeds differ:\n%v\n%v", gotA, gotB)
		}
		seen := map[string]bool{}
		for _, ev := range feedA.got() {
			if seen[ev.Text] {
				t.Fatalf("%q stored twice: %v", ev.Text, gotA)
			}
			seen[ev.Text] = true
		}
		if want := 2 * 2 * electionEvents; len(seen) != want {
			t.Fatalf("%d events stored, want %d: %v", len(seen), want, gotA)
		}
		for _, l := range []*Log{a, b} {
			if marks := l.unacked.take(); len(marks) > 0 {
				t.Fatalf("acked appends remembered as never acked: %v", marks)
			}
		}
	})

	t.Run("QuorumLost", func(t *testing.T) {
		if leader < 0 {
			t.Skip("LeaderKilled did not run")
		}
		var alive []int
		for i := range c.N() {
			if i != leader {
				alive = append(alive, i)
			}
		}
		// l stays connected to the last server, which alone cannot store.
		opts.URL, opts.ElectionWait = c.URL(alive[1]), 1500*time.Millisecond
		l := open(opts)
		opts.URL, opts.ElectionWait = c.URLs(), time.Minute
		closed := open(opts)
		c.Kill(alive[0])
		// That the room is told is TestSharedQuorumLost's: here, that an
		// append without a quorum gives up after the budget.
		start := time.Now()
		_, err := l.Append(chat("nobody hears"))
		took := time.Since(start)
		if err == nil || took < 1400*time.Millisecond || took > 10*time.Second {
			t.Fatalf("Append without a quorum: %v after %v; want an error after about 1.5s", err, took)
		}
		start = time.Now()
		err = l.AppendBatch([]*room.Event{chat("one"), chat("two")})
		took = time.Since(start)
		if err == nil || took < 1400*time.Millisecond || took > 10*time.Second {
			t.Fatalf("AppendBatch without a quorum: %v after %v; want an error after about 1.5s", err, took)
		}

		// Close while an append retries (every server down): it returns
		// at once.
		c.Stop()
		done := make(chan error, 1)
		go func() {
			_, err := closed.Append(chat("cut short"))
			done <- err
		}()
		waitFor(t, "the append to retry", func() bool { return closed.Retried() > 0 })
		closed.Close()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("Append worked with every server down")
			}
		case <-time.After(2 * time.Second):
			t.Fatal("Append still retrying 2s after Close")
		}
	})
}

// electionEvents is how many events appendSome appends each way.
const electionEvents = 5

// appendSome appends electionEvents events to l one by one and as many in
// one AppendBatch, at the same time, their texts starting with name.
func appendSome(l *Log, name string) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() {
		for i := range electionEvents {
			if _, err := l.Append(chat(fmt.Sprint(name, " one ", i))); err != nil {
				errs[0] = fmt.Errorf("%s: Append %d: %w", name, i, err)
				return
			}
		}
	})
	wg.Go(func() {
		evs := make([]*room.Event, electionEvents)
		for i := range evs {
			evs[i] = chat(fmt.Sprint(name, " batch ", i))
		}
		if err := l.AppendBatch(evs); err != nil {
			errs[1] = fmt.Errorf("%s: AppendBatch: %w", name, err)
			return
		}
		for i := 1; i < len(evs); i++ {
			if evs[i].Seq <= evs[i-1].Seq {
				errs[1] = fmt.Errorf("%s: AppendBatch stored %d after %d", name, evs[i].Seq, evs[i-1].Seq)
			}
		}
	})
	wg.Wait()
	return errors.Join(errs...)
}

// streamLeader is the index (server s1 is 0) of the server leading l's
// stream, once it has one.
func streamLeader(t *testing.T, l *Log) int {
	t.Helper()
	leader := -1
	waitFor(t, "the stream's leader", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		info, err := l.stream.Info(ctx)
		if err != nil || info.Cluster == nil {
			return false
		}
		_, err = fmt.Sscanf(info.Cluster.Leader, "s%d", &leader)
		leader--
		return err == nil && leader >= 0
	})
	return leader
}

// TestFailedSuffix: only the events after the last one acked that got no
// answer are published again, up to one the server refused.
func TestFailedSuffix(t *testing.T) {
	msg := &nats.Msg{}
	timeout := ack{err: context.DeadlineExceeded}
	refused := ack{err: fmt.Errorf("x: %w", &jetstream.APIError{Code: 503, Description: "refused"})}
	stored := ack{seq: 7}
	for _, c := range []struct {
		name string
		msgs []*nats.Msg
		acks []ack
		want []int
	}{
		{"all stored", []*nats.Msg{msg, msg}, []ack{stored, stored}, nil},
		{"tail", []*nats.Msg{msg, msg, msg}, []ack{stored, timeout, timeout}, []int{1, 2}},
		{"a hole stays", []*nats.Msg{msg, msg, msg}, []ack{timeout, stored, timeout}, []int{2}},
		{"not encodable skipped", []*nats.Msg{msg, nil, msg}, []ack{timeout, {}, timeout}, []int{0, 2}},
		{"up to a refusal", []*nats.Msg{msg, msg, msg}, []ack{timeout, refused, timeout}, []int{0}},
	} {
		got, why := failedSuffix(c.msgs, c.acks)
		if !slices.Equal(got, c.want) || (len(got) > 0) != (why != nil) {
			t.Errorf("%s: %v, %v; want %v", c.name, got, why, c.want)
		}
	}
}

// TestUnanswered: what a shared append publishes again.
func TestUnanswered(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{jetstream.ErrNoStreamResponse, true},
		{jetstream.ErrAsyncPublishTimeout, true},
		{&NotConnectedError{Err: nats.ErrReconnectBufExceeded}, true},
		{fmt.Errorf("publish: %w", nats.ErrDisconnected), true},
		{context.Canceled, false},
		{nats.ErrConnectionClosed, false},
		{&jetstream.APIError{Code: 503, Description: "refused"}, false},
		{errors.New("something else"), false},
		{nil, false},
	} {
		if got := unanswered(c.err); got != c.want {
			t.Errorf("unanswered(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestStreamAnswer: what the watchdog makes of a stream's info.
func TestStreamAnswer(t *testing.T) {
	peer := func(active time.Duration, offline bool) *jetstream.PeerInfo {
		return &jetstream.PeerInfo{Name: "p", Current: true, Active: active, Offline: offline}
	}
	info := func(leader string, peers ...*jetstream.PeerInfo) *jetstream.StreamInfo {
		return &jetstream.StreamInfo{Cluster: &jetstream.ClusterInfo{Leader: leader, Replicas: peers}}
	}
	for _, c := range []struct {
		name string
		info *jetstream.StreamInfo
		err  error
		want error
	}{
		{"no cluster", &jetstream.StreamInfo{}, nil, nil},
		{"one replica", info("s1"), nil, nil},
		{"all heard", info("s1", peer(time.Second, false), peer(0, false)), nil, nil},
		{"one of two gone", info("s1", peer(time.Minute, false), peer(0, false)), nil, nil},
		{"both gone", info("s1", peer(time.Minute, false), peer(0, true)), nil, errNoQuorum},
		{"two of two, one gone", info("s1", peer(time.Minute, false)), nil, errNoQuorum},
		{"leaderless", info("", peer(0, false), peer(0, false)), nil, errNoLeader},
		{"no answer", nil, context.DeadlineExceeded, context.DeadlineExceeded},
	} {
		if got := streamAnswer(c.info, c.err); !errors.Is(got, c.want) || (got == nil) != (c.want == nil) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
