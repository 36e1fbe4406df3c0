package jetlog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"chatd/internal/testproc"
)

// storeNews is what a room watching a log (WatchStore) was told, in order:
// "down" or "up", and the downs' errors.
type storeNews struct {
	mu    sync.Mutex
	told  []string
	downs []error
}

func (n *storeNews) down(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.told = append(n.told, "down")
	n.downs = append(n.downs, err)
}

func (n *storeNews) up() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.told = append(n.told, "up")
}

func (n *storeNews) get() ([]string, []error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Fields(strings.Join(n.told, " ")), append([]error(nil), n.downs...)
}

// TestSharedQuorumLost: a node's log stays connected to the one server of
// three that survives; the other two die, so the stream (Replicas 3) has
// no quorum. Nobody appends, yet the feed's watchdog tells the room the
// store is down within a few seconds, and Check fails; once the servers
// are back it tells the room it is up, Check succeeds, and appends work.
// The room is told once each way. Twice: with the stream's leader on the
// surviving server (it answers, for 10 to 20 s, as if it could store:
// errNoQuorum, told at once, and Check must not take it for a store that
// is back), then elsewhere (nobody leads the stream: told after
// ElectionWait, 4 s here).
func TestSharedQuorumLost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server")
	}
	cl := testproc.StartNATSClusterOf(t, buildNATS(t), 3)
	var l *Log
	waitFor(t, "the cluster to take the stream", func() bool {
		var err error
		l, err = Open(context.Background(), Options{URL: cl.URLs(), Shared: true, Replicas: 3,
			Stream: "QUORUM", Subject: "chatd.quorum", Logger: quiet, Timeout: 2 * time.Second})
		return err == nil
	})
	t.Cleanup(func() { l.Close() })
	news := &storeNews{}
	l.WatchStore(news.down, news.up)
	follow(t, l, 0)
	on := -1
	for i := range cl.N() {
		if cl.URL(i) == l.Conn().ConnectedUrl() {
			on = i
		}
	}
	if on < 0 {
		t.Fatalf("connected to %q, not one of %s", l.Conn().ConnectedUrl(), cl.URLs())
	}
	for round, leader := range []int{on, (on + 1) % cl.N()} {
		moveLeader(t, l, fmt.Sprint("s", leader+1)) // testproc's names
		loseQuorum(t, cl, l, on, news, 2*round, leader == on)
	}
}

// moveLeader has the server named name lead l's stream.
func moveLeader(t *testing.T, l *Log, name string) {
	t.Helper()
	subject := "$JS.API.STREAM.LEADER.STEPDOWN." + l.opts.Stream
	body := []byte(`{"placement":{"preferred":"` + name + `"}}`)
	waitFor(t, name+" to lead the stream", func() bool {
		info, err := l.stream.Info(context.Background())
		if err != nil || info.Cluster == nil {
			return false
		}
		if info.Cluster.Leader == name && streamAnswer(info, nil) == nil {
			return true
		}
		l.Conn().Request(subject, body, time.Second)
		time.Sleep(500 * time.Millisecond) // the election
		return false
	})
}

// loseQuorum kills every server of cl but on (which l is connected to),
// checks that the room is told the store is down, once, restarts them and
// checks that it is told up, once; told is how many times the room was
// told before; leads says whether on leads the stream (then its answer
// says errNoQuorum).
func loseQuorum(t *testing.T, cl *testproc.NATSCluster, l *Log, on int, news *storeNews, told int, leads bool) {
	t.Helper()
	waitFor(t, "a first append", func() bool {
		_, err := l.Append(chat("before"))
		return err == nil
	})
	lost := time.Now()
	for i := range cl.N() {
		if i != on {
			cl.Kill(i)
		}
	}
	waitFor(t, "the room to be told the store is down", func() bool {
		got, _ := news.get()
		return len(got) > told
	})
	got, downs := news.get()
	t.Logf("told down %v after the quorum's loss: %v", time.Since(lost).Round(time.Millisecond), downs[len(downs)-1])
	if got[told] != "down" || leads && !errors.Is(downs[len(downs)-1], errNoQuorum) {
		t.Fatalf("told %v (%v), want down (errNoQuorum if the survivor leads)", got, downs)
	}
	if !l.Conn().IsConnected() || l.Conn().ConnectedUrl() != cl.URL(on) {
		t.Fatal("the log lost its connection: the test wants it to stay up")
	}
	if err := l.Check(context.Background()); err == nil || leads && !errors.Is(err, errNoQuorum) {
		t.Fatalf("Check without a quorum: %v", err)
	}
	for i := range cl.N() {
		if i != on {
			cl.Restart(i)
		}
	}
	waitFor(t, "the room to be told the store is up", func() bool {
		got, _ := news.get()
		return len(got) > told+1
	})
	waitFor(t, "Check to succeed", func() bool { return l.Check(context.Background()) == nil })
	if _, err := l.Append(chat("after")); err != nil {
		t.Fatalf("Append after the quorum's return: %v", err)
	}
	if got, downs := news.get(); strings.Join(got[told:], " ") != "down up" {
		t.Fatalf("the room was told %v (%v), want down then up, once each", got, downs)
	}
}
