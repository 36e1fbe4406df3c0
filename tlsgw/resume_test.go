package tlsgw

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"chatd/proto"
	"chatd/room"
)

// expectPrefixed reads the next lines and checks that each holds the
// wanted parts: the first at the start, the second at the end.
func (c *client) expectPrefixed(want ...[2]string) {
	c.t.Helper()
	for _, w := range want {
		if line := c.readLine(); !strings.HasPrefix(line, w[0]) || !strings.HasSuffix(line, w[1]) {
			c.t.Fatalf("got %q, want %q...%q", line, w[0], w[1])
		}
	}
}

// TestResumeAtThePrompt: a client that asks to resume is acknowledged,
// and its public events carry their numbers; a client that did not ask
// sees none. Dropped and back with its last number and the log's name, it
// is replayed exactly what it missed, and told how many are gone when the
// history no longer holds them all.
func TestResumeAtThePrompt(t *testing.T) {
	ts := startServer(t, Config{Room: room.New(room.Config{HistorySize: 3, FloodBurst: 100})})
	alice := ts.join(t, "alice")
	logID := ts.room.LogID()

	bob := ts.connect(t)
	bob.send("/resume 0")
	bob.expectLines("*** resume after 0 in log "+logID, "*** "+proto.NickPrompt)
	bob.send("bob")
	bob.expectPrefixed(
		[2]string{"[", "*** recent history: 1 event"},
		[2]string{"#1 [", "*** alice joined"},
		[2]string{"[", "*** end of recent history"},
		[2]string{"#2 [", "*** bob joined"},
		[2]string{"[", "*** 2 members: alice, bob"})
	alice.send("one")
	bob.expectPrefixed([2]string{"#3 [", "<alice> one"})
	bob.conn.Close()
	alice.expectLines("*** bob joined")
	if line, skipped := alice.expect("bob left"); strings.Contains(line, "#") || len(skipped) > 0 {
		t.Errorf("alice, who did not ask, got %q, %q", skipped, line)
	}
	alice.send("two") // 5, after bob's leave (4)

	back := ts.connect(t)
	back.send(fmt.Sprintf("/resume 3 %s", logID))
	back.expectLines("*** resume after 3 in log "+logID, "*** "+proto.NickPrompt)
	back.send("bob")
	back.expectPrefixed(
		[2]string{"[", "*** recent history: 2 events"},
		[2]string{"#4 [", "*** bob left (connection closed)"},
		[2]string{"#5 [", "<alice> two"},
		[2]string{"[", "*** end of recent history"},
		[2]string{"#6 [", "*** bob joined"})
	back.conn.Close()
	alice.expect("bob left") // 7
	for i := range 5 {
		alice.send(fmt.Sprint("more ", i)) // 8..12
	}
	alice.send("/who")
	alice.expect("*** 1 member: alice")

	again := ts.connect(t)
	again.send(fmt.Sprintf("/resume 6 %s", logID))
	again.expectLines("*** resume after 6 in log "+logID, "*** "+proto.NickPrompt)
	again.send("bob")
	again.expectPrefixed(
		[2]string{"[", "*** 3 events were missed and are no longer kept"},
		[2]string{"[", "*** recent history: 3 events"},
		[2]string{"#10 [", "<alice> more 2"},
		[2]string{"#11 [", "<alice> more 3"},
		[2]string{"#12 [", "<alice> more 4"},
		[2]string{"[", "*** end of recent history"},
		[2]string{"#13 [", "*** bob joined"})
}

// TestHostileResumeRequests: a malformed request is refused with the
// reason and the prompt again, a second one too; a request from another
// log resumes after 0 (the recent history); each counts as one of the
// nickname attempts, so that they cannot keep a connection open.
func TestHostileResumeRequests(t *testing.T) {
	ts := startServer(t, Config{})
	alice := ts.join(t, "alice")
	visitor := ts.connect(t)
	for _, line := range []string{"/resume", "/resume -1", "/resume abc", "/resume 1e9", "/resume 99999999999999999999999", "/resume 1 bad!log", "/RESUME 1 2 3"} {
		visitor.send(line)
		if got := visitor.readLine(); !strings.HasPrefix(got, "!!! invalid resume request: ") {
			t.Errorf("%q was answered %q", line, got)
		}
		visitor.expectLines("*** " + proto.NickPrompt)
	}
	visitor.send("/resume 18446744073709551615 someotherlog")
	visitor.expectLines("*** resume after 0 in log "+ts.room.LogID(), "*** "+room.ResumeResetNotice, "*** "+proto.NickPrompt)
	visitor.send("/resume 1")
	visitor.expectLines("!!! resume already asked for; choose a nickname", "*** "+proto.NickPrompt)
	visitor.send("/resume 2")
	if lines := visitor.expectClosed(); len(lines) != 3 || lines[2] != "!!! too many attempts; goodbye" {
		t.Errorf("the tenth attempt got %q, want its refusal, the prompt and the goodbye", lines)
	}

	// A resume beyond the log's end, in the right log, is acknowledged as
	// what the server will do: after 0, with the notice, so that the
	// client forgets its numbers; then the recent history, once; the
	// member list stays unnumbered.
	for _, after := range []string{"2", "18446744073709551615"} {
		far := ts.connect(t)
		far.send(fmt.Sprintf("/resume %s %s", after, ts.room.LogID()))
		far.expectLines("*** resume after 0 in log "+ts.room.LogID(), "*** "+room.ResumeResetNotice, "*** "+proto.NickPrompt)
		far.send("/quit")
	}
	late := ts.connect(t)
	late.send(fmt.Sprintf("/resume 1000 %s", ts.room.LogID()))
	late.expectLines("*** resume after 0 in log "+ts.room.LogID(), "*** "+room.ResumeResetNotice, "*** "+proto.NickPrompt)
	late.send("bob")
	late.expectPrefixed(
		[2]string{"[", "*** recent history: 1 event"},
		[2]string{"#1 [", "*** alice joined"},
		[2]string{"[", "*** end of recent history"},
		[2]string{"#2 [", "*** bob joined"},
		[2]string{"[", "*** 2 members: alice, bob"})
	if line, skipped := alice.expect("bob joined"); strings.HasPrefix(line, "#") || len(skipped) > 0 {
		t.Errorf("alice got %q, %q: the visitors were shown", skipped, line)
	}
}

// TestResumeResetSaysWhy: a resume served from the recent history says
// why: a request that names no log is told so (not that the log was
// replaced); one whose stamp is not the one of the log's event at its
// point (the log was rolled back, as by restoring a backup, and numbered
// another event the same) is told that; the stamp of the event the client
// was shown, as it read it off the wire, resumes where it asked.
func TestResumeResetSaysWhy(t *testing.T) {
	ts := startServer(t, Config{})
	alice := ts.join(t, "alice") // 1
	alice.send("one")            // 2
	logID := ts.room.LogID()

	watcher := ts.connect(t)
	watcher.send("/resume 0")
	watcher.expectLines("*** resume after 0 in log "+logID, "*** "+proto.NickPrompt)
	watcher.send("bob") // 3
	line, _ := watcher.expect("<alice> one")
	seq, rest := proto.CutSeq(line)
	if seq != 2 {
		t.Fatalf("alice's line is %q", line)
	}
	shown := proto.EventStamp(proto.ParseLine(rest, time.Now()))
	other := proto.EventStamp(&room.Event{Kind: room.Chat, Time: time.Now(), From: "henry", Text: "after the restore"})

	for _, c := range []struct{ request, ack, notice string }{
		{"/resume 2", "*** resume after 0 in log " + logID, "*** " + room.ResumeNoLogNotice},
		{"/resume 2 " + logID + " " + other, "*** resume after 0 in log " + logID, "*** " + room.ResumeOtherEventNotice},
		{"/resume 2 " + logID + " " + shown, "*** resume after 2 in log " + logID, ""},
		{"/resume 2 " + logID, "*** resume after 2 in log " + logID, ""},
	} {
		c2 := ts.connect(t)
		c2.send(c.request)
		want := []string{c.ack, "*** " + proto.NickPrompt}
		if c.notice != "" {
			want = []string{c.ack, c.notice, "*** " + proto.NickPrompt}
		}
		c2.expectLines(want...)
		c2.send("/quit")
	}
}
