package jetlog

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatd/room"
)

// TestKill9KeepsAcked: a process that appends to the embedded log and is
// killed with SIGKILL loses no event whose Append returned: every sequence
// it printed after an ack is there when the store is opened again.
func TestKill9KeepsAcked(t *testing.T) {
	if dir := os.Getenv("JETLOG_KILL_DIR"); dir != "" {
		appendForever(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9KeepsAcked$")
	cmd.Env = append(os.Environ(), "JETLOG_KILL_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	var last uint64
	for lines.Scan() && last < 300 {
		if seq, err := strconv.ParseUint(strings.TrimPrefix(lines.Text(), "acked "), 10, 64); err == nil {
			last = seq
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if last < 300 {
		t.Fatalf("the child acked only %d events", last)
	}
	b, err := os.ReadFile(filepath.Join(dir, floorName))
	if err != nil {
		t.Fatalf("no sequence floor after the kill: %v", err)
	}
	floor, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || floor < 1 {
		t.Fatalf("floor %q after %d acks", b, last)
	}
	l := open(t, dir, Options{})
	got, err := l.Replay(0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(got)) < floor {
		t.Fatalf("the floor %d is ahead of the %d events stored", floor, len(got))
	}
	if uint64(len(got)) < last {
		t.Fatalf("after kill -9: %d events stored, %d were acked", len(got), last)
	}
	for i, ev := range got {
		if ev.Seq != uint64(i+1) || ev.Text != fmt.Sprint("event ", i+1) {
			t.Fatalf("event %d is %d %q", i, ev.Seq, ev.Text)
		}
	}
}

// appendForever is the child of TestKill9KeepsAcked: it appends events to
// the log in dir, printing each acked sequence, until it is killed.
func appendForever(dir string) {
	l, err := Open(context.Background(), Options{Dir: dir, Logger: quiet})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	for i := 1; ; i++ {
		seq, err := l.Append(&room.Event{Kind: room.Chat, Time: time.Now(), From: "alice", Text: fmt.Sprint("event ", i)})
		if err != nil {
			fmt.Println("append:", err)
			os.Exit(1)
		}
		fmt.Println("acked", seq)
	}
}
