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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, stop, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// run is chatd's whole life; it returns the exit status. stopSignals restores
// default signal handling, so a second Ctrl+C during shutdown kills at once.
func run(ctx context.Context, stopSignals func(), args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 && args[0] == "cert" {
		return runCert(args[1:], stdout, stderr)
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
		fmt.Fprintln(stderr, "chatd:", err)
		return 2
	}
	logger := newLogger(cfg.logFormat, stderr)
	if cfg.logMessages {
		cfg.room.MessageLog = logger.With("log", "messages")
	}
	if err := serve(ctx, stopSignals, &cfg, stdout, logger); err != nil {
		fmt.Fprintln(stderr, "chatd:", err)
		return 1
	}
	return 0
}

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
