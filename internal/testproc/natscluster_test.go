package testproc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestNATSCluster: three servers form one JetStream cluster; a stream with
// three replicas keeps taking messages when the server that leads it is
// killed, and the server, restarted, holds every message again.
func TestNATSCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs nats-server")
	}
	c := StartNATSCluster(t, 3)
	if got := strings.Count(c.URLs(), ","); got != 2 {
		t.Errorf("URLs() = %q, want three", c.URLs())
	}
	nc, err := nats.Connect(c.URLs(), nats.ReconnectWait(50*time.Millisecond), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*Wait)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t"}, Replicas: 3})
	if err != nil {
		t.Fatalf("a stream with 3 replicas: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream cluster info %+v, want a leader and two replicas", info.Cluster)
	}
	publish(ctx, t, js, 0, 5)

	leader := slices.IndexFunc([]string{"s1", "s2", "s3"}, func(s string) bool { return s == info.Cluster.Leader })
	if leader < 0 {
		t.Fatalf("stream leader %q is none of s1..s3", info.Cluster.Leader)
	}
	c.Kill(leader)
	publish(ctx, t, js, 5, 10) // acked by the two left

	c.Restart(leader)
	waitStored(t, c, leader, "T", 10)
}

// publish publishes messages from to to-1 on subject t, each retried
// until acknowledged (a stream that lost its leader elects another), with
// a message id so a retry stores nothing twice.
func publish(ctx context.Context, t *testing.T, js jetstream.JetStream, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		for {
			short, cancel := context.WithTimeout(ctx, time.Second)
			_, err := js.Publish(short, "t", []byte(fmt.Sprint(i)), jetstream.WithMsgID(fmt.Sprint(i)))
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("message %d never acknowledged: %v", i, errors.Join(err, ctx.Err()))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// waitStored waits until server i's own copy of stream holds want
// messages, as its /jsz reports it.
func waitStored(t *testing.T, c *NATSCluster, i int, stream string, want uint64) {
	t.Helper()
	var got uint64
	deadline := time.Now().Add(Wait)
	for time.Now().Before(deadline) {
		var jsz struct {
			Accounts []struct {
				Streams []struct {
					Name  string `json:"name"`
					State struct {
						Msgs uint64 `json:"messages"`
					} `json:"state"`
				} `json:"stream_detail"`
			} `json:"account_details"`
		}
		if err := c.Monitor(i, "/jsz?accounts=true&streams=true", &jsz); err == nil {
			for _, a := range jsz.Accounts {
				for _, s := range a.Streams {
					if s.Name == stream {
						got = s.State.Msgs
					}
				}
			}
		}
		if got == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server %d holds %d messages of %s, want %d", i+1, got, stream, want)
}
