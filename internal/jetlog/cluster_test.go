package jetlog

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatd/internal/testproc"
)

// freePorts returns n ports free on 127.0.0.1 a moment ago.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]string, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports[i] = fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// startCluster starts three nats-server processes clustered on loopback,
// JetStream on, and returns each one's process and client URL.
func startCluster(t *testing.T, bin string) ([]*testproc.Process, []string) {
	t.Helper()
	ports := freePorts(t, 6)
	var routes []string
	for i := range 3 {
		routes = append(routes, "nats://127.0.0.1:"+ports[3+i])
	}
	procs := make([]*testproc.Process, 3)
	urls := make([]string, 3)
	for i := range 3 {
		name := fmt.Sprint("n", i+1)
		procs[i] = testproc.Start(t, "nats-server "+name, nil, bin, "-js", "-sd", t.TempDir(), "-a", "127.0.0.1",
			"-p", ports[i], "-n", name, "--cluster_name", "chatd", "--cluster", routes[i], "--routes", strings.Join(routes, ","))
		urls[i] = "nats://127.0.0.1:" + ports[i]
	}
	for _, p := range procs {
		p.Expect("Server is ready")
	}
	return procs, urls
}

// TestSharedCluster: two nodes on a cluster of three NATS servers, the
// stream kept by all three (Replicas 3). Killing the server one node is
// connected to loses nothing: both feeds go on after their last event
// and deliver the same sequence, every acked event once.
func TestSharedCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server")
	}
	procs, urls := startCluster(t, buildNATS(t))
	open := func(order ...int) *Log {
		var list []string
		for _, i := range order {
			list = append(list, urls[i])
		}
		var l *Log
		waitFor(t, "the cluster to take the stream", func() bool {
			var err error
			l, err = Open(context.Background(), Options{URL: strings.Join(list, ","), Shared: true, Replicas: 3,
				Stream: "CLUSTER", Subject: "chatd.cluster", Logger: quiet, Timeout: 2 * time.Second})
			return err == nil
		})
		t.Cleanup(func() { l.Close() })
		return l
	}
	a := open(0, 1, 2)
	b := open(1, 2, 0)
	if r := a.stream.CachedInfo().Config.Replicas; r != 3 {
		t.Fatalf("the stream has %d replicas, want 3", r)
	}
	fa, feedA := follow(t, a, 0)
	fb, feedB := follow(t, b, 0)
	acked := map[uint64]string{}
	failed := map[string]bool{} // texts an append failed for: maybe stored all the same
	say := func(l *Log, text string) {
		waitFor(t, "an append of "+text, func() bool {
			seq, err := l.Append(chat(text))
			if err == nil {
				acked[seq] = text
			} else {
				failed[text] = true
			}
			return err == nil
		})
	}
	for i := range 5 {
		say(a, fmt.Sprint("a before ", i))
		say(b, fmt.Sprint("b before ", i))
	}
	// Kill the server a is connected to (the first of its list).
	procs[0].Signal(syscall.SIGKILL)
	procs[0].WaitExit()
	for i := range 5 {
		say(a, fmt.Sprint("a after ", i))
		say(b, fmt.Sprint("b after ", i))
	}
	var last uint64
	for seq := range acked {
		last = max(last, seq)
	}
	waitDelivered(t, fa, last)
	waitDelivered(t, fb, last)
	gotA, gotB := seqTexts(feedA.got()), seqTexts(feedB.got())
	if !slices.Equal(gotA, gotB) {
		t.Fatalf("the feeds differ:\n%v\n%v", gotA, gotB)
	}
	// Every acked event once, in its place; besides, only events whose
	// append failed (a lost ack: stored all the same) may be there.
	evs := feedA.got()
	for i, ev := range evs {
		if i > 0 && ev.Seq <= evs[i-1].Seq {
			t.Fatalf("the feed went back: %v", gotA)
		}
		if text, ok := acked[ev.Seq]; ok && text != ev.Text || !ok && !failed[ev.Text] {
			t.Fatalf("event %d:%s was not appended there (%v)", ev.Seq, ev.Text, gotA)
		}
		delete(acked, ev.Seq)
	}
	if len(acked) > 0 {
		t.Fatalf("acked events missing from the feed: %v (%v)", acked, gotA)
	}
}
