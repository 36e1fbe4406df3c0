package jetlog

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"chatd/internal/testproc"
	"chatd/room"
	"chatd/room/logtest"
)

// natsBuild is nats-server built once for the package's tests (buildNATS),
// in a directory TestMain removes (removeNATS).
var natsBuild struct {
	sync.Mutex
	dir, bin string
}

// buildNATS builds nats-server, once for all the package's tests (linking
// it takes seconds), and returns the binary's path.
func buildNATS(t *testing.T) string {
	t.Helper()
	natsBuild.Lock()
	defer natsBuild.Unlock()
	if natsBuild.bin != "" {
		return natsBuild.bin
	}
	dir, err := os.MkdirTemp("", "jetlog-nats")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := testproc.BuildNATS(dir)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	natsBuild.dir, natsBuild.bin = dir, bin
	return bin
}

// removeNATS removes the nats-server buildNATS built, if any, and exits
// with code (goleak.Cleanup: in place of os.Exit).
func removeNATS(code int) {
	natsBuild.Lock()
	if natsBuild.dir != "" {
		os.RemoveAll(natsBuild.dir)
	}
	natsBuild.Unlock()
	os.Exit(code)
}

// TestExternalServer runs the Log table against a real nats-server
// process, one stream per case, and checks an outage: appends fail while
// the server is down, within the timeout, and work again once it is back.
func TestExternalServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server")
	}
	srv := testproc.StartNATS(t, buildNATS(t), t.TempDir(), "")
	var n atomic.Int64
	openExt := func(t *testing.T, stream string, keep int64) *Log {
		l, err := Open(context.Background(), Options{URL: srv.URL(), Stream: stream, Subject: "chatd." + stream,
			MaxMsgs: keep, Logger: quiet, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	logtest.Run(t, logtest.Factory{
		New: func(t *testing.T, keep int) room.Log {
			return openExt(t, fmt.Sprint("T", n.Add(1)), int64(keep))
		},
		Reopen: func(t *testing.T, l room.Log) room.Log {
			old := l.(*Log)
			old.Close()
			return openExt(t, old.opts.Stream, old.opts.MaxMsgs)
		},
		Raw: func(t *testing.T, l room.Log, data []byte) {
			t.Helper()
			publishForeign(t, l.(*Log), l.(*Log).opts.Subject, data)
		},
		Skipped: func(l room.Log) uint64 { return l.(*Log).Skipped() },
		Hostile: hostile,
	})

	// Replaced: with Options.Dir set, an external stream that was lost and
	// created again while chatd was stopped is refused at the next Open,
	// not numbered from 1 again (review finding 3).
	t.Run("Replaced", func(t *testing.T) {
		dir := t.TempDir()
		// Credentials in the URL (the server has no authentication and
		// ignores them) are not in the refusal (review finding 6).
		o := Options{URL: strings.Replace(srv.URL(), "nats://", "nats://chatd:s3cretpass@", 1), Dir: dir, Stream: "REPLACED", Subject: "chatd.replaced", Logger: quiet, Timeout: 2 * time.Second}
		l, err := Open(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			if _, err := l.Append(&room.Event{Kind: room.Join, Time: time.Now(), From: "alice"}); err != nil {
				t.Fatal(err)
			}
		}
		cfg := l.streamConfig()
		l.Close()
		l, err = Open(context.Background(), o) // the same stream: fine
		if err != nil {
			t.Fatalf("reopen of the same stream: %v", err)
		}
		js, _ := jetstream.New(l.Conn())
		deleteStream(t, js, cfg.Name)
		if _, err := js.CreateStream(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		l.Close()
		if l, err := Open(context.Background(), o); err == nil {
			seq, _ := l.Append(&room.Event{Kind: room.Join, Time: time.Now(), From: "bob"})
			l.Close()
			t.Fatalf("Open accepted a replaced stream; next seq %d", seq)
		} else if !strings.Contains(err.Error(), "replaced") || !strings.Contains(err.Error(), srv.URL()) {
			t.Fatalf("Open = %v, want it to say the stream on %s was replaced", err, srv.URL())
		} else if strings.Contains(err.Error(), "s3cretpass") {
			t.Fatalf("Open = %v: the URL's password is shown", err)
		}
	})

	t.Run("Outage", func(t *testing.T) {
		l := openExt(t, "OUTAGE", 100)
		ev := func(text string) *room.Event {
			return &room.Event{Kind: room.Chat, Time: time.Now(), From: "alice", Text: text}
		}
		if _, err := l.Append(ev("before")); err != nil {
			t.Fatal(err)
		}
		srv.Kill()
		start := time.Now()
		if _, err := l.Append(ev("during")); err == nil {
			t.Fatal("Append worked with the server down")
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("a failed Append took %v", d)
		}
		srv = srv.Restart(t)
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := l.Append(ev("after"))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Append still fails after the server came back: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		got, err := l.Replay(0, 10)
		if err != nil || len(got) != 2 || got[0].Text != "before" || got[1].Text != "after" {
			t.Fatalf("Replay after the outage: %v, %v", got, err)
		}
	})
}

// fakeOldServer speaks just enough of the NATS protocol to be connected
// to, announcing version; it answers PING and reads everything else.
func fakeOldServer(t *testing.T, version string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				fmt.Fprintf(c, "INFO {\"server_id\":\"FAKE\",\"version\":%q,\"proto\":1,\"headers\":true,\"max_payload\":1048576,\"jetstream\":true}\r\n", version)
				r := bufio.NewReader(c)
				go func() { <-t.Context().Done(); c.Close() }()
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if strings.HasPrefix(line, "PING") {
						fmt.Fprint(c, "PONG\r\n")
					}
				}
			})
		}
	})
	return "nats://" + ln.Addr().String()
}

// TestOldServerRefused: a server older than 2.11 ignores the batch of a
// direct get, so every Replay would wait out the timeout, stalling the
// room: Open refuses it at once, naming the minimum (review finding 4).
func TestOldServerRefused(t *testing.T) {
	url := fakeOldServer(t, "2.10.22")
	start := time.Now()
	l, err := Open(context.Background(), Options{URL: url, Logger: quiet, Timeout: 2 * time.Second})
	if err == nil {
		l.Close()
		t.Fatal("Open accepted nats-server 2.10.22")
	}
	if !strings.Contains(err.Error(), "2.10.22") || !strings.Contains(err.Error(), "2.11") {
		t.Fatalf("Open = %v, want it to name the version and the minimum 2.11", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the refusal took %v", d)
	}
}

func TestServerVersionAtLeast(t *testing.T) {
	for v, ok := range map[string]bool{"2.11.0": true, "2.15.2": true, "v2.11.0-beta.1": true, "3.0.0": true,
		"2.10.22": false, "2.9.0": false, "1.99.99": false, "": false, "garbage": false, "2": false} {
		if got := versionAtLeast(v, 2, 11); got != ok {
			t.Errorf("versionAtLeast(%q, 2, 11) = %v", v, got)
		}
	}
}
