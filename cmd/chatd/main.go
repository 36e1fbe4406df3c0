// Command chatd serves one encrypted chat room over a TLS line protocol (for
// openssl s_client and the bundled chat client) and over SSH (a terminal UI).
// With no flags it generates a self-signed certificate and an SSH host key in
// its data directory on first start and reuses them after.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// programName is chatd as it was run (os.Args[0]: `bin/chatd`, or the full
// path under systemd), so that the commands the banner prints work when
// pasted.
var programName = "chatd"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 0 && os.Args[0] != "" {
		programName = os.Args[0]
	}
	os.Exit(run(ctx, stop, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// run is chatd's whole life; it returns the exit status. stopSignals restores
// default signal handling, so a second Ctrl+C during shutdown kills at once.
func run(ctx context.Context, stopSignals func(), args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 && args[0] == "cert" {
		return runCert(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "mitm" {
		return runMitm(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "export" {
		return runExport(ctx, args[1:], stdout, stderr, getenv)
	}
	var cfg config
	fs := newServeFlags(&cfg, stderr)
	if err := parseFlags(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "chatd:", err)
		return 2
	}
	if cfg.version {
		fmt.Fprintln(stdout, "chatd", version)
		return 0
	}
	if err := cfg.validate(); err != nil {
		failed(cfg.logFormat, stderr, err)
		return 2
	}
	logger := newLogger(cfg.logFormat, stderr)
	if cfg.logMessages {
		cfg.room.MessageLog = logger.With("log", "messages")
	}
	if err := serve(ctx, stopSignals, &cfg, stdout, logger); err != nil {
		failed(cfg.logFormat, stderr, err)
		return 1
	}
	return 0
}

// failed says why chatd could not start or stopped: with --log-format json
// as a record "chatd failed" (a machine reading the log reads why too),
// else as a line of text. Only errors in the flags themselves, found
// before the format is known, are always text.
func failed(logFormat string, stderr io.Writer, err error) {
	if logFormat == "json" {
		newLogger(logFormat, stderr).Error("chatd failed", "err", err)
		return
	}
	fmt.Fprintln(stderr, "chatd:", err)
}

// newLogger returns chatd's logger: log/slog records as text or JSON on w.
// Durations follow one rule in both formats: an attribute NAME holding a
// time.Duration is written as NAME_seconds, a number of seconds
// (duration=1.5s becomes duration_seconds=1.5), so that a machine reads it
// without knowing Go's duration syntax or slog's nanoseconds.
func newLogger(format string, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{ReplaceAttr: durationsInSeconds}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationsInSeconds is the ReplaceAttr that writes a duration attribute
// NAME as NAME_seconds, in seconds.
func durationsInSeconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindDuration {
		return a
	}
	return slog.Float64(a.Key+"_seconds", a.Value.Duration().Seconds())
}
