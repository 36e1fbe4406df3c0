package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"chatd/internal/jetlog"
	"chatd/room"
)

// exitClosedOutput is export's status when its output was closed before
// it was all written (`chatd export | head`): 128 + SIGPIPE, what a shell
// reports for a command a closed pipe ended, so that a script with
// `set -o pipefail` knows the export is not whole.
const exitClosedOutput = 128 + 13

// exportTimeLayout is RFC 3339 in UTC with nanoseconds, always nine
// digits, so that the times of an export sort as text.
const exportTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// exportCommand is what `chatd export` was told.
type exportCommand struct {
	dataDir string
	store   storeConfig
	since   sinceFlag
}

// sinceFlag is --since: an RFC 3339 time, or a Go duration back from now
// (24h, 90m).
type sinceFlag struct {
	at   time.Time
	back time.Duration
}

func (s *sinceFlag) String() string {
	switch {
	case s.back > 0:
		return s.back.String()
	case !s.at.IsZero():
		return s.at.Format(time.RFC3339Nano)
	}
	return ""
}

func (s *sinceFlag) Set(v string) error {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		*s = sinceFlag{at: t}
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return errors.New("want an RFC 3339 time (2026-12-01T09:00:00Z) or a duration back from now (24h)")
	}
	*s = sinceFlag{back: d}
	return nil
}

// from is the time --since names, now being now; zero without --since.
func (s *sinceFlag) from(now time.Time) time.Time {
	if s.back > 0 {
		return now.Add(-s.back)
	}
	return s.at
}

// exportedFlags are the store flags (addStoreFlags) export takes too.
var exportedFlags = []string{"nats", "nats-ca", "nats-creds"}

func newExportFlags(c *exportCommand, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("chatd export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.dataDir, "data-dir", "chatd-data", "chatd's `DIR`: the history is read from nats/ in it")
	fs.Var(&c.since, "since", "export the events stored at or after `TIME`: an RFC 3339 time (2026-12-01T09:00:00Z) or a duration back from now (24h)")
	all := flag.NewFlagSet("", flag.ContinueOnError)
	addStoreFlags(all, &c.store)
	for _, name := range exportedFlags {
		f := all.Lookup(name)
		fs.Var(f.Value, f.Name, f.Usage)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  chatd export [--since TIME] [--data-dir DIR | --nats URL] > room.jsonl\n\n"+
			"Writes the room's history, oldest first, as JSON lines: one object per public event\n"+
			"(fields in the README, \"Export the history\"). The embedded store is locked while\n"+
			"chatd runs on it: stop chatd first, or export from a copy of the data directory.\n"+
			"Export only reads the store: it reads a temporary copy of it (in $TMPDIR), so every\n"+
			"event the store holds is exported, even those older than --history-max-age.\n\n"+
			"Flags (each also settable as %s<NAME>, e.g. %sDATA_DIR):\n", envPrefix, envPrefix)
		printFlags(fs, stderr, true)
	}
	return fs
}

// runExport is `chatd export`: write the history as JSON lines on stdout.
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var c exportCommand
	fs := newExportFlags(&c, stderr)
	if err := parseFlags(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "chatd export:", err)
		return 2
	}
	if err := c.store.check(); err != nil {
		fmt.Fprintln(stderr, "chatd export:", err)
		return 2
	}
	// A closed stdout must fail the write (EPIPE), not kill export before
	// it closes the store.
	sigpipe := make(chan os.Signal, 1)
	signal.Notify(sigpipe, syscall.SIGPIPE)
	defer signal.Stop(sigpipe)
	err := c.export(ctx, stdout, stderr, time.Now())
	switch {
	case errors.Is(err, syscall.EPIPE):
		return exitClosedOutput
	case err != nil:
		fmt.Fprintln(stderr, "chatd export:", err)
		return 1
	}
	return 0
}

// export writes every event from --since to w, buffered.
func (c *exportCommand) export(ctx context.Context, w, stderr io.Writer, now time.Time) error {
	r, err := c.openReader(ctx, stderr)
	if err != nil {
		return err
	}
	defer r.Close()
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	since := c.since.from(now)
	var n, old uint64
	expiry := time.Time{}
	if age := r.MaxAge(); age > 0 {
		expiry = now.Add(-age)
	}
	err = r.Each(ctx, since, func(ev *room.Event) error {
		n++
		if ev.Time.Before(expiry) {
			old++
		}
		return enc.Encode(newExportLine(ev))
	})
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	c.note(stderr, n, old, r)
	return nil
}

// note says on stderr what an export's count alone would not: that a
// store holding events exported none, and why; or that some exported
// events are older than the stream's max age (a chatd started on that
// store removes them).
func (c *exportCommand) note(stderr io.Writer, n, old uint64, r *jetlog.Reader) {
	switch {
	case n == 0 && r.Stored() > 0 && c.since.String() != "":
		fmt.Fprintf(stderr, "chatd export: warning: the store holds %d events, none stored at or after --since %s\n", r.Stored(), c.since.String())
	case n == 0 && r.Stored() > 0:
		fmt.Fprintf(stderr, "chatd export: warning: the store holds %d records and none is a valid event: nothing was exported\n", r.Stored())
	case old > 0:
		fmt.Fprintf(stderr, "chatd export: note: %d of the %d events exported are older than the store's --history-max-age (%s): chatd removes them when it next starts on this store\n",
			old, n, r.MaxAge())
	}
}

// openReader opens the store the flags name, read only, and words its
// refusals for the host.
func (c *exportCommand) openReader(ctx context.Context, stderr io.Writer) (*jetlog.Reader, error) {
	opts := jetlog.Options{
		URL:       c.store.natsURL,
		CAFile:    c.store.natsCA,
		CredsFile: c.store.natsCreds,
		Logger:    newLogger("text", stderr).With("part", "store"),
	}
	where := c.store.natsURL
	if where == "" {
		opts.Dir = filepath.Join(c.dataDir, natsDirName)
		where = opts.Dir
	}
	r, err := jetlog.OpenReader(ctx, opts)
	var inUse *jetlog.InUseError
	switch {
	case errors.As(err, &inUse):
		return nil, fmt.Errorf("the history in %s is in use by %s (a running chatd): export cannot read it meanwhile; stop chatd first, or export from a copy of the data directory (see \"Back up and restore\" in the README), or keep the history on a NATS server (--nats), which export can read at any time", inUse.Dir, inUse.Holder)
	case errors.Is(err, jetlog.ErrNoRoom):
		return nil, fmt.Errorf("%w (export reads a temporary copy of the store, never the store itself)", err)
	case errors.Is(err, jetlog.ErrNoStore):
		return nil, fmt.Errorf("no history in %s: chatd has kept none there (is --data-dir right?)", where)
	case err != nil:
		return nil, err
	}
	return r, nil
}

// exportLine is one line of an export: one public event. Fields a kind
// does not have are left out; count, joined and left are always there on
// a presence summary, even when 0.
type exportLine struct {
	Seq    uint64        `json:"seq"`
	Time   string        `json:"time"`
	Kind   string        `json:"kind"`
	From   string        `json:"from,omitempty"`
	To     string        `json:"to,omitempty"`
	Text   string        `json:"text,omitempty"`
	Count  *int          `json:"count,omitempty"`
	Joined *int          `json:"joined,omitempty"`
	Left   *int          `json:"left,omitempty"`
	Reason *exportReason `json:"reason,omitempty"`
}

// exportReason is a leave's reason: a word for its kind, and the detail.
type exportReason struct {
	Kind   string `json:"kind"`
	Detail string `json:"detail,omitempty"`
}

// reasonNames are the words an export gives each room.ReasonKind.
var reasonNames = [...]string{
	room.ReasonOther:        "other",
	room.ReasonQuit:         "quit",
	room.ReasonClosed:       "closed",
	room.ReasonLost:         "lost",
	room.ReasonSlowConsumer: "slow-consumer",
	room.ReasonFlood:        "flood",
	room.ReasonShutdown:     "shutdown",
	room.ReasonProtocol:     "protocol",
	room.ReasonKicked:       "kicked",
	room.ReasonBanned:       "banned",
	room.ReasonRefused:      "refused",
}

// reasonName is the word for k; "other" for a kind this program does not
// know.
func reasonName(k room.ReasonKind) string {
	if int(k) < len(reasonNames) && reasonNames[k] != "" {
		return reasonNames[k]
	}
	return reasonNames[room.ReasonOther]
}

// newExportLine is ev as a line of the export.
func newExportLine(ev *room.Event) exportLine {
	line := exportLine{
		Seq: ev.Seq, Time: ev.Time.UTC().Format(exportTimeLayout), Kind: ev.Kind.String(),
		From: ev.From, To: ev.To, Text: ev.Text,
	}
	switch ev.Kind {
	case room.Presence:
		line.Count, line.Joined, line.Left = &ev.Count, &ev.Joined, &ev.Left
	case room.Leave:
		line.Reason = &exportReason{Kind: reasonName(ev.Reason.Kind), Detail: ev.Reason.Detail}
	}
	return line
}
