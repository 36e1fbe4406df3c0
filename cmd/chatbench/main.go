// Command chatbench is a load generator for line-broadcast chat servers
// over TLS (chatd, `ncat --ssl --chat`) and for chatd's SSH interface.
//
// It connects many clients, has each send timestamped messages at a steady
// rate, and has every other client record how long each message took to
// arrive. It reports deliveries, latency percentiles and, given the
// server's process id, the server's CPU time per delivery and its memory.
// Run `chatbench --help` for the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is chatbench with its command line and output streams; it returns
// the exit code: 0 when a run was measured, 1 when none could be, 2 for a
// usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "chatbench:", err)
		return 2
	}
	if cfg.version {
		fmt.Fprintln(stdout, "chatbench", version)
		return 0
	}
	if !cfg.quiet {
		cfg.progress = stderr
	}
	res, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "chatbench:", err)
		if res != nil && cfg.json {
			res.writeJSON(stdout) // so that a script sees the failure too
		}
		return 1
	}
	table := stdout
	if cfg.json {
		table = stderr
		if err := res.writeJSON(stdout); err != nil {
			fmt.Fprintln(stderr, "chatbench:", err)
			return 1
		}
	}
	if err := res.writeTable(table); err != nil {
		fmt.Fprintln(stderr, "chatbench: print the report:", err)
		return 1
	}
	return 0
}
