package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatd/internal/testproc"
	"chatd/proto"
	"chatd/room"
)

// exported is a line of `chatd export` as the README documents it; a
// field it does not list fails the parse.
type exported struct {
	Seq    uint64 `json:"seq"`
	Time   string `json:"time"`
	Kind   string `json:"kind"`
	From   string `json:"from"`
	To     string `json:"to"`
	Text   string `json:"text"`
	Count  *int   `json:"count"`
	Joined *int   `json:"joined"`
	Left   *int   `json:"left"`
	Reason *struct {
		Kind   string `json:"kind"`
		Detail string `json:"detail"`
	} `json:"reason"`
}

// exportRun is one run of `chatd export`.
type exportRun struct {
	stdout, stderr string
	code           int
}

// runExportCmd runs `chatd export args...`.
func runExportCmd(t *testing.T, args ...string) exportRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(chatdBinary, append([]string{"export"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return exportRun{stdout.String(), stderr.String(), exitCode(err)}
}

// exportEvents runs a successful export and parses every line strictly.
func exportEvents(t *testing.T, args ...string) []exported {
	t.Helper()
	run := runExportCmd(t, args...)
	if run.code != 0 || run.stderr != "" {
		t.Fatalf("chatd export %s: exit %d, stderr:\n%s", strings.Join(args, " "), run.code, run.stderr)
	}
	return parseExport(t, run.stdout)
}

// parseExport parses an export: one JSON object per line, nothing else.
func parseExport(t *testing.T, out string) []exported {
	t.Helper()
	var evs []exported
	if out == "" {
		return nil
	}
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("the export does not end with a newline: %q", out[max(0, len(out)-80):])
	}
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var ev exported
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil || dec.More() {
			t.Fatalf("line %d of the export is not one documented object (%v): %q", i+1, err, line)
		}
		if _, err := time.Parse(time.RFC3339Nano, ev.Time); err != nil || len(ev.Time) != len("2006-01-02T15:04:05.000000000Z") {
			t.Fatalf("line %d: time %q is not RFC 3339 UTC with nanoseconds", i+1, ev.Time)
		}
		evs = append(evs, ev)
	}
	return evs
}

// event is the room.Event an exported line describes, as a line-protocol
// client reads it: no Seq, the time to the second.
func (e exported) event(t *testing.T) room.Event {
	t.Helper()
	at, _ := time.Parse(time.RFC3339Nano, e.Time)
	ev := room.Event{Time: at.Truncate(time.Second), From: e.From, To: e.To, Text: e.Text}
	kinds := map[string]room.Kind{"chat": room.Chat, "action": room.Action, "join": room.Join, "leave": room.Leave, "nick": room.NickChange, "presence": room.Presence}
	var ok bool
	if ev.Kind, ok = kinds[e.Kind]; !ok {
		t.Fatalf("exported kind %q is not documented", e.Kind)
	}
	if e.Count != nil {
		ev.Count, ev.Joined, ev.Left = *e.Count, *e.Joined, *e.Left
	}
	if e.Reason != nil {
		kinds := map[string]room.ReasonKind{"other": room.ReasonOther, "quit": room.ReasonQuit, "closed": room.ReasonClosed, "lost": room.ReasonLost,
			"slow-consumer": room.ReasonSlowConsumer, "flood": room.ReasonFlood, "shutdown": room.ReasonShutdown, "protocol": room.ReasonProtocol}
		k, ok := kinds[e.Reason.Kind]
		if !ok {
			t.Fatalf("exported reason kind %q is not documented", e.Reason.Kind)
		}
		ev.Reason = room.Reason{Kind: k, Detail: e.Reason.Detail}
	}
	return ev
}

var historyBeginRE = regexp.MustCompile(`recent history: (\d+) event`)

// shownHistory joins as nick and returns the history it is shown, each
// line read back with the line protocol's codec.
func shownHistory(t *testing.T, s *testproc.Chatd, nick string) (*testproc.Process, []room.Event) {
	t.Helper()
	p := s.OpenSSL(t, nick)
	p.Expect("*** Choose a nickname")
	p.Send(nick)
	n, _ := strconv.Atoi(historyBeginRE.FindStringSubmatch(p.Expect("*** recent history: "))[1])
	var evs []room.Event
	for range n {
		ev := proto.ParseLine(p.Expect("["), time.Now())
		evs = append(evs, *ev)
	}
	p.Expect("*** end of recent history")
	p.Expect("*** " + nick + " joined")
	return p, evs
}

// sameAsShown fails unless the exported events are, one for one, the
// events a client was shown (to the second, which is what a line shows).
func sameAsShown(t *testing.T, got []exported, shown []room.Event) {
	t.Helper()
	if len(got) != len(shown) {
		t.Fatalf("exported %d events where the joiner was shown %d", len(got), len(shown))
	}
	for i, e := range got {
		ev, want := e.event(t), shown[i]
		if ev.Time.UTC().Format(time.TimeOnly) != want.Time.UTC().Format(time.TimeOnly) {
			t.Errorf("event %d: exported at %s, shown at %s", i, e.Time, want.Time.UTC().Format(time.TimeOnly))
		}
		ev.Time, want.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(ev, want) {
			t.Errorf("event %d: exported %+v, shown %+v", i, ev, want)
		}
	}
}

// TestExportRoundTrip: members talk (chat, an action, a nick change, a
// hostile line, a leave); after chatd stops, `chatd export` gives, line
// for line, the events a joiner was shown as history, numbered from 1,
// then the joiner's own; --since cuts at a time; a closed output ends the
// export quietly with status 141, leaving the store sound.
func TestExportRoundTrip(t *testing.T) {
	requireOpenSSL(t)
	dataDir := t.TempDir()
	s := startChatd(t, dataDir, "--history", "100")
	alice := s.JoinWithOpenSSL(t, "alice")
	bob := s.JoinWithOpenSSL(t, "bob")
	alice.Expect("*** bob joined")
	alice.Send("hello bob")
	bob.Expect("<alice> hello bob")
	hostile := `{"seq":1,"kind":"chat"} "quoted" \back\ <b>&amp; ` + "\u2028\u00e9\x1b[31mred\r"
	alice.Send(hostile)
	bob.Expect("<alice> {")
	bob.Send("/me waves")
	alice.Expect("* bob waves")
	alice.Send("/nick alicia")
	bob.Expect("*** alice is now known as alicia")
	bob.Send("/quit see you")
	alice.Expect("*** bob left (quit: see you)")
	bob.WaitExit()
	cut := time.Now()
	alice.Send("after the cut")
	alice.Send("/who") // a round trip: the line is stored before carol joins
	alice.Expect("*** 1 member: alicia")

	carol, shown := shownHistory(t, s, "carol")
	alice.Expect("*** carol joined")
	carol.Send("/quit")
	alice.Expect("*** carol left (quit)")
	alice.Send("/quit")
	alice.Expect("*** Goodbye.")
	s.Signal(syscall.SIGTERM)
	if code := s.WaitExit(); code != 0 {
		t.Fatalf("chatd exited %d", code)
	}

	all := exportEvents(t, "--data-dir", dataDir)
	for i, e := range all {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d is numbered %d", i, e.Seq)
		}
	}
	if len(all) != len(shown)+3 {
		t.Fatalf("exported %d events, want the %d shown to carol and 3 more", len(all), len(shown))
	}
	sameAsShown(t, all[:len(shown)], shown)
	if kinds := [...]string{all[len(shown)].Kind + " " + all[len(shown)].From, all[len(shown)+1].Kind + " " + all[len(shown)+1].From,
		all[len(shown)+2].Kind + " " + all[len(shown)+2].From}; kinds != [...]string{"join carol", "leave carol", "leave alicia"} {
		t.Errorf("after the history: %v", kinds)
	}
	if !strings.Contains(all[3].Text, `{"seq":1,"kind":"chat"} "quoted" \back\ <b>&amp;`) {
		t.Errorf("the hostile line was exported as %q", all[3].Text)
	}

	afterCut := exportEvents(t, "--data-dir", dataDir, "--since", cut.Format(time.RFC3339Nano))
	if len(afterCut) == 0 || afterCut[0].Text != "after the cut" || len(afterCut) != len(all)-int(afterCut[0].Seq)+1 {
		t.Fatalf("--since the cut: %+v", afterCut)
	}
	if got := exportEvents(t, "--data-dir", dataDir, "--since", "1h"); len(got) != len(all) {
		t.Errorf("--since 1h: %d events, want %d", len(got), len(all))
	}
	// A store that holds events but exports none says so.
	ahead := runExportCmd(t, "--data-dir", dataDir, "--since", time.Now().Add(time.Minute).Format(time.RFC3339))
	if ahead.code != 0 || ahead.stdout != "" || !strings.Contains(ahead.stderr, "warning: the store holds "+strconv.Itoa(len(all))+" events, none stored at or after --since") {
		t.Errorf("--since a minute ahead: exit %d, stdout %q, stderr %q", ahead.code, ahead.stdout, ahead.stderr)
	}

	code, stderr := exportToClosedPipe(t, dataDir)
	if code != exitClosedOutput || stderr != "" {
		t.Errorf("export to a closed pipe: exit %d, stderr %q; want %d and nothing", code, stderr, exitClosedOutput)
	}
	if got := exportEvents(t, "--data-dir", dataDir); len(got) != len(all) {
		t.Errorf("after the cut-short export: %d events, want %d", len(got), len(all))
	}
}

// exportToClosedPipe runs an export whose standard output is a pipe that
// nobody reads any more (`chatd export | head -0`).
func exportToClosedPipe(t *testing.T, dataDir string) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(chatdBinary, "export", "--data-dir", dataDir)
	cmd.Stdout, cmd.Stderr = w, &stderr
	err = cmd.Run()
	w.Close()
	var ee *exec.ExitError
	if errors.As(err, &ee) && !ee.Exited() {
		t.Fatalf("export was killed (%v) instead of ending by itself", err)
	}
	return exitCode(err), stderr.String()
}

// TestExportRefusedWhileRunning: the embedded store is locked by the
// running chatd; export says so and what to do, exits 1, and leaves chatd
// and its store alone.
func TestExportRefusedWhileRunning(t *testing.T) {
	requireOpenSSL(t)
	dataDir := t.TempDir()
	s := startChatd(t, dataDir)
	alice := s.JoinWithOpenSSL(t, "alice")
	alice.Send("before the export")
	alice.Send("/who")
	alice.Expect("*** 1 member: alice")

	run := runExportCmd(t, "--data-dir", dataDir)
	if run.code != 1 || run.stdout != "" {
		t.Errorf("export while chatd runs: exit %d, stdout %q", run.code, run.stdout)
	}
	for _, want := range []string{"in use by process ", "stop chatd first", "copy of the data directory", "--nats"} {
		if !strings.Contains(run.stderr, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, run.stderr)
		}
	}

	if again := runExportCmd(t, "--data-dir", dataDir); again.code != 1 || !strings.Contains(again.stderr, "in use by process ") {
		t.Errorf("a second export while chatd runs: exit %d, stderr %q (the first released chatd's lock?)", again.code, again.stderr)
	}
	bob := s.JoinWithOpenSSL(t, "bob")
	alice.Send("after the export")
	bob.Expect("<alice> after the export")
	alice.Send("/quit")
	bob.Send("/quit")
	bob.Expect("*** Goodbye.")
	s.Signal(syscall.SIGTERM)
	s.WaitExit()
	var texts []string
	for _, e := range exportEvents(t, "--data-dir", dataDir) {
		if e.Kind == "chat" {
			texts = append(texts, e.Text)
		}
	}
	if strings.Join(texts, "|") != "before the export|after the export" {
		t.Errorf("after the refused export, the history holds %q", texts)
	}
}

// TestExportEmptyStore: a store that holds no event exports nothing,
// successfully; a data directory without a store is an error, and export
// creates nothing there.
func TestExportEmptyStore(t *testing.T) {
	dataDir := t.TempDir()
	s := startChatd(t, dataDir)
	s.Signal(syscall.SIGTERM)
	s.WaitExit()
	if run := runExportCmd(t, "--data-dir", dataDir); run.code != 0 || run.stdout != "" || run.stderr != "" {
		t.Errorf("export of an empty store: exit %d, stdout %q, stderr %q", run.code, run.stdout, run.stderr)
	}
	missing := filepath.Join(t.TempDir(), "typo")
	run := runExportCmd(t, "--data-dir", missing)
	if run.code != 1 || !strings.Contains(run.stderr, "no history in "+filepath.Join(missing, "nats")) {
		t.Errorf("export of a missing data directory: exit %d, stderr %q", run.code, run.stderr)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("export created %s", missing)
	}
	if run := runExportCmd(t, "--since", "yesterday"); run.code != 2 || !strings.Contains(run.stderr, "RFC 3339") {
		t.Errorf("--since yesterday: exit %d, stderr %q", run.code, run.stderr)
	}
}

// TestBackupRestore follows the README: stop chatd, copy the data
// directory with cp -a, start chatd on the copy (other ports): the same
// history, the same certificate and SSH host key.
func TestBackupRestore(t *testing.T) {
	requireOpenSSL(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	s := startChatd(t, dataDir, "--ssh-addr", "127.0.0.1:0")
	alice := s.JoinWithOpenSSL(t, "alice")
	alice.Send("kept in the backup")
	alice.Send("/quit")
	alice.Expect("*** Goodbye.")
	logName := resumeLogName(t, s)
	s.Signal(syscall.SIGTERM)
	s.WaitExit()
	before := runExportCmd(t, "--data-dir", dataDir)

	backup := filepath.Join(t.TempDir(), "backup")
	if out, err := exec.Command("cp", "-a", dataDir, backup).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	restored := startChatd(t, backup, "--ssh-addr", "127.0.0.1:0")
	if restored.Fingerprint != s.Fingerprint || restored.SSHFingerprint != s.SSHFingerprint {
		t.Errorf("restored chatd: certificate %s, host key %s; before %s, %s",
			restored.Fingerprint, restored.SSHFingerprint, s.Fingerprint, s.SSHFingerprint)
	}
	// The restored copy numbers events again from the copy's end: its log
	// has a name of its own, so that a client resuming from a number the
	// original gave is not resumed "exactly" in the copy.
	if got := resumeLogName(t, restored); got == logName {
		t.Errorf("the restored store's log is named %q, as the original's", got)
	}
	bob, shown := shownHistory(t, restored, "bob")
	bob.Send("/quit")
	bob.Expect("*** Goodbye.")
	restored.Signal(syscall.SIGTERM)
	restored.WaitExit()
	sameAsShown(t, parseExport(t, before.stdout), shown)
	after := runExportCmd(t, "--data-dir", backup)
	if !strings.HasPrefix(after.stdout, before.stdout) || after.stdout == before.stdout {
		t.Errorf("the restored store's export does not continue the original's:\nbefore:\n%s\nafter:\n%s", before.stdout, after.stdout)
	}
}

// dirFiles is every regular file under dir with its content.
func dirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		files[path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestExportOfAnOldBackup: a data directory whose events are all older
// than its --history-max-age (a backup kept a while) exports every one of
// them, notes that they are older than the max age, and leaves the data
// directory byte for byte as it was, so a second export gives them again.
// Before the fix export ran the store's server on the directory itself,
// which removed the expired events from it: nothing exported, exit 0, and
// the backup emptied.
func TestExportOfAnOldBackup(t *testing.T) {
	requireOpenSSL(t)
	const maxAge = 5 * time.Second
	dataDir := filepath.Join(t.TempDir(), "data")
	s := startChatd(t, dataDir, "--history-max-age", maxAge.String())
	alice := s.JoinWithOpenSSL(t, "alice")
	alice.Send("kept past the max age")
	alice.Send("/quit")
	alice.Expect("*** Goodbye.")
	s.Signal(syscall.SIGTERM)
	stopped := time.Now()
	s.WaitExit()
	time.Sleep(time.Until(stopped.Add(maxAge + 500*time.Millisecond)))
	before := dirFiles(t, dataDir)
	tmp := t.TempDir()

	for i := range 2 {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(chatdBinary, "export", "--data-dir", dataDir)
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("export %d: %v\n%s", i+1, err, stderr.String())
		}
		got := parseExport(t, stdout.String())
		var kinds []string
		for _, e := range got {
			kinds = append(kinds, e.Kind+":"+e.Text)
		}
		if want := []string{"join:", "chat:kept past the max age", "leave:"}; !reflect.DeepEqual(kinds, want) {
			t.Errorf("export %d of the aged store: %q, want %q", i+1, kinds, want)
		}
		if note := "note: 3 of the 3 events exported are older than the store's --history-max-age (5s)"; !strings.Contains(stderr.String(), note) {
			t.Errorf("export %d: stderr %q, want %q", i+1, stderr.String(), note)
		}
	}
	after := dirFiles(t, dataDir)
	if len(after) != len(before) {
		t.Errorf("the data directory holds %d files after the exports, %d before", len(after), len(before))
	}
	for path, b := range before {
		if after[path] != b {
			t.Errorf("export changed %s", path)
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("export left %d entries in TMPDIR", len(left))
	}
}

// resumeLogName asks s to resume a client after 0 and returns the name of
// the log it acknowledges.
func resumeLogName(t *testing.T, s *testproc.Chatd) string {
	t.Helper()
	p := s.OpenSSL(t, "resumer")
	p.Expect("*** Choose a nickname")
	p.Send("/resume 0")
	line := p.Expect("*** resume after 0 in log ")
	p.CloseInput()
	return strings.TrimSpace(line[strings.Index(line, " in log ")+len(" in log "):])
}
