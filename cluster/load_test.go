package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
)

// ownRev returns the revision of n's own record, as n stored it last.
func ownRev(n *Node) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ownRev
}

// TestBurialKeepsHeartbeat: while a node buries a dead node (its leaves
// slow to store), it goes on renewing its own record, so that nobody takes
// it for dead; the leaves go in one batch.
func TestBurialKeepsHeartbeat(t *testing.T) {
	c := newCluster(t)
	gate := make(chan struct{})
	c.log.mu.Lock()
	c.log.gate = gate
	c.log.mu.Unlock()
	a := c.join("a")
	dead := c.join("c")
	members := make([]string, 300)
	for i := range members {
		members[i] = fmt.Sprintf("m%03d", i)
	}
	attach(t, dead, members...)
	dead.renew()
	waitFor(t, "a to see c's members", func() bool { return len(peerNicks(a)) == len(members) })
	dead.halt()
	waitFor(t, "a to start burying c", func() bool {
		c.log.mu.Lock()
		defer c.log.mu.Unlock()
		return len(c.log.batches) > 0
	})
	rev := ownRev(a)
	waitFor(t, "a to renew its record while it buries c", func() bool { return ownRev(a) > rev+1 })
	close(gate)
	waitFor(t, "c to be buried", func() bool {
		_, err := a.nodesKV.Get(context.Background(), "c")
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
	if got := len(c.log.stored()); got != len(members) {
		t.Errorf("%d leaves stored, want %d", got, len(members))
	}
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	if c.log.batches[0] != len(members) {
		t.Errorf("the first batch had %d leaves, want all %d", c.log.batches[0], len(members))
	}
}

// TestBurialResumes: a burial that failed half-way is tried again with
// the leaves not stored yet, not all of them.
func TestBurialResumes(t *testing.T) {
	c := newCluster(t)
	c.log.mu.Lock()
	c.log.failAfter = 2
	c.log.mu.Unlock()
	a := c.join("a")
	dead := c.join("c")
	attach(t, dead, "v", "w", "x", "y", "z")
	dead.renew()
	waitFor(t, "a to see c's members", func() bool { return len(peerNicks(a)) == 5 })
	dead.halt()
	waitFor(t, "c to be buried", func() bool {
		_, err := a.nodesKV.Get(context.Background(), "c")
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
	if got := len(c.log.stored()); got != 5 {
		t.Errorf("%d leaves stored, want 5", got)
	}
	c.log.mu.Lock()
	if len(c.log.batches) != 2 || c.log.batches[0] != 5 || c.log.batches[1] != 3 {
		t.Errorf("batches of %v leaves, want [5 3]", c.log.batches)
	}
	if c.log.calls != 5 {
		t.Errorf("%d leaves announced, want 5", c.log.calls)
	}
	c.log.mu.Unlock()
	// Forgotten once the burial's deletion of the record returns (a moment
	// after the test sees it gone).
	waitFor(t, "the burial's progress to be forgotten", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.burials) == 0
	})
}

// TestPrivateNotSerialised: a private message whose delivery is slow does
// not hold up the next one to the same node.
func TestPrivateNotSerialised(t *testing.T) {
	c := newCluster(t)
	a, b := c.join("a"), c.join("b")
	attach(t, a, "alice")
	rb := attach(t, b, "bob", "slowpoke")
	rb.slowFor, rb.slow, rb.slowIn = "slowpoke", make(chan struct{}), make(chan struct{})
	defer close(rb.slow)
	waitFor(t, "a to see b's members", func() bool { return len(peerNicks(a)) == 2 })
	alice := room.Sender{Nick: "alice"}
	go a.Bus().Whisper(alice, "slowpoke", "first") //nolint:errcheck // answered late, or not
	<-rb.slowIn                                    // b is delivering the first
	start := time.Now()
	if nick, err := a.Bus().Whisper(alice, "bob", "second"); err != nil || nick != "bob" {
		t.Fatalf("Whisper(bob) = %q, %v", nick, err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("the second private message took %s", d)
	}
}

// TestCheckReplicaQuick: renewals sooner than half a heartbeat after the
// last one do not count as the watch lagging; renewals that do, twice,
// restart the watches.
func TestCheckReplicaQuick(t *testing.T) {
	now := time.Now()
	n := &Node{o: Options{Node: "a", Heartbeat: time.Second}, nodes: map[string]nodeEntry{}, stale: make(chan struct{})}
	n.ownRev, n.lastBeat = 7, now
	stale := n.stale
	for range 3 {
		n.checkReplica(now.Add(100 * time.Millisecond))
	}
	select {
	case <-stale:
		t.Fatal("quick renewals restarted the watches")
	default:
	}
	n.checkReplica(now.Add(time.Second))
	n.checkReplica(now.Add(time.Second))
	select {
	case <-stale:
	default:
		t.Fatal("the watches were not restarted after two late renewals")
	}
}

// TestBigRecordPaced: a big record (many members) is not stored again at
// every change of members: at most its size per pacedBytes.
func TestBigRecordPaced(t *testing.T) {
	c := newCluster(t)
	o := c.options("a")
	o.Heartbeat, o.DeadAfter = time.Minute, 3*time.Minute
	a, err := Join(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	members := make([]string, 3000)
	for i := range members {
		members[i] = fmt.Sprintf("member%04d", i)
	}
	attach(t, a, members...)
	a.membersChanged()
	waitFor(t, "the big record stored", func() bool { return a.recordSize.Load() > 150<<10 })
	gap := a.gap()
	if gap < 500*time.Millisecond {
		t.Fatalf("a record of %d bytes is renewed every %s", a.recordSize.Load(), gap)
	}
	rev := ownRev(a)
	end := time.Now().Add(gap)
	for time.Now().Before(end) {
		a.membersChanged()
		time.Sleep(20 * time.Millisecond)
	}
	if got := ownRev(a) - rev; got > 2 {
		t.Errorf("the record was stored %d times in %s, want at most 2", got, gap)
	}
}
