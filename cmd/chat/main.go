// Command chat is chatd's terminal client. It connects over TLS, verifies
// the server (a CA file, the system's authorities, or trust on first use
// like OpenSSH), and shows the same chat screen as chatd's SSH sessions.
// With --plain it reads lines from standard input and prints the server's
// lines, for scripts and pipes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/term"

	"chatd/client"
	"chatd/internal/keylog"
	"chatd/room"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// defaultPort is chatd's TLS port, used when the address names none.
const defaultPort = "7443"

type options struct {
	// addrs are the servers of the room, host:port each (one, or the
	// nodes of a cluster), in the order given.
	addrs       []string
	shuffle     bool
	nick        string
	caFile      string
	fingerprint string // as client.ParseFingerprint returns it
	insecure    bool
	plain       bool
	knownPath   string
	showVersion bool
	title       bool
	// keylog is the file for the TLS secrets (--keylog, else
	// SSLKEYLOGFILE), "" when off; keyLogFile is it, opened.
	keylog     string
	keyLogFile *os.File
	// identityPath is the identity file (--identity, else the default
	// one), "" with --no-identity; identity is it, loaded.
	identityPath string
	noIdentity   bool
	showIdentity bool
	identity     *client.Identity
}

// chat's exit statuses.
const (
	exitOK       = 0 // the user left: /quit, Ctrl+C, or the end of --plain's input
	exitFailed   = 1 // the connection failed or was lost, or the server refused us
	exitUsage    = 2 // the command line is wrong
	exitNickname = 3 // --plain: the nickname is invalid or taken; choose another
)

// memoryLimit is the soft limit of the Go heap that chat asks of the
// garbage collector unless GOMEMLIMIT says otherwise: what it keeps is
// bounded (scrollback, member list, line length) to a few MiB, so a
// collector that lets the heap double between runs would only make a
// flooding server look expensive.
const memoryLimit = 24 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	opts, err := parseOptions(args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "chat:", err)
		return exitUsage
	}
	if opts.showVersion {
		fmt.Fprintln(stdout, "chat", version)
		return exitOK
	}
	ui := newConsole(stdin, stderr)
	if opts.showIdentity {
		return showIdentity(opts, ui, stdout)
	}
	if err := opts.loadIdentity(ui); err != nil {
		ui.fail(err)
		return exitFailed
	}
	if opts.insecure {
		ui.warnAtStart("WARNING: --insecure: the server's certificate is NOT verified. Anyone on the network path can read and change this chat.")
	}
	fromEnv := false
	if opts.keylog == "" {
		opts.keylog, fromEnv = os.Getenv(keylog.EnvVar), true
	}
	if opts.keylog != "" {
		f, err := keylog.Open(opts.keylog)
		switch {
		case err != nil && fromEnv:
			// A key log a browser or curl created (0644) is common: chat
			// runs without one rather than refuse to start, and says why.
			// An explicit --keylog still refuses.
			ui.warnAtStart("WARNING: " + keylog.EnvVar + " is set, but chat runs WITHOUT a key log: " + err.Error() +
				". To log to that file: chmod 600 " + opts.keylog)
			opts.keylog = ""
		case err != nil:
			ui.fail(err)
			return exitFailed
		default:
			defer f.Close()
			opts.keyLogFile = f
			ui.warnAtStart("WARNING: " + keylog.Warning(opts.keylog) + " (--keylog or " + keylog.EnvVar + ")")
		}
	}
	srv, err := newServer(opts, ui)
	if err != nil {
		ui.fail(err)
		return exitFailed
	}
	conn, err := srv.connect(ctx, ui)
	if reason, ok := sentAway(err); ok {
		// Banned, or not let in: said plainly, and never retried.
		sayFarewell(stderr, reason)
		if opts.noIdentity {
			fmt.Fprintln(stderr, "chat: you presented no certificate (--no-identity): without that flag chat presents your identity; chat --show-identity prints its fingerprint")
		}
		return exitFailed
	}
	if isNickProblem(err) {
		if opts.plain {
			ui.fail(err)
			fmt.Fprintln(stderr, "chat: choose another nickname with --nick")
			return exitNickname
		}
		// The screen asks for another.
		return runScreen(ctx, srv, ui, nil, nickProblem(opts.nick, err))
	}
	if err != nil {
		ui.fail(err)
		return exitFailed
	}
	if opts.plain {
		return runPlain(srv.session(ctx, conn, nil), stdin, stdout, stderr)
	}
	return runScreen(ctx, srv, ui, conn, "")
}

// parseOptions reads the command line. --help prints the usage on stdout;
// a mistake prints it on stderr, before the error that run prints.
func parseOptions(args []string, stdout, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := newFlags(o)
	fs.SetOutput(io.Discard) // errors are printed once, by run
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(fs, stdout)
		return nil, err
	case err != nil:
		printUsage(fs, stderr)
		return nil, err
	case o.showVersion:
		return o, nil
	}
	if err := o.checkIdentityFlags(fs); err != nil {
		return nil, err
	}
	switch {
	case o.showIdentity && fs.NArg() == 0:
		return o, nil
	case o.showIdentity:
		return nil, errors.New("--show-identity names no server")
	case fs.NArg() != 1:
		printUsage(fs, stderr)
		return nil, errors.New("name the server, as HOST or HOST:PORT, or the servers of one room, as HOST1,HOST2:PORT,...")
	}
	if o.addrs, err = client.ParseAddrs(fs.Arg(0), defaultPort); err != nil {
		return nil, err
	}
	if err := refuseEmpty(fs, "fingerprint", "ca", "known-servers"); err != nil {
		return nil, err
	}
	if err := o.checkTrustFlags(); err != nil {
		return nil, err
	}
	if o.knownPath == "" {
		var err error
		if o.knownPath, err = client.DefaultKnownServersPath(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// refuseEmpty refuses an empty value given to one of the named flags
// (--fingerprint "$FP" with FP unset): left out, the flag would mean
// something else, a weaker way of verifying the server.
func refuseEmpty(fs *flag.FlagSet, names ...string) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err == nil && slices.Contains(names, f.Name) && strings.TrimSpace(f.Value.String()) == "" {
			err = fmt.Errorf("--%s was given an empty value (an unset variable?): give one, or leave the flag out", f.Name)
		}
	})
	return err
}

// checkTrustFlags refuses ways of verifying the server that contradict each
// other, and reads --fingerprint.
func (o *options) checkTrustFlags() error {
	if o.fingerprint != "" {
		fp, err := client.ParseFingerprint(o.fingerprint)
		if err != nil {
			return fmt.Errorf("--fingerprint: %w", err)
		}
		o.fingerprint = fp
	}
	switch {
	case o.insecure && o.caFile != "":
		return errors.New("--insecure and --ca contradict each other")
	case o.insecure && o.fingerprint != "":
		return errors.New("--insecure and --fingerprint contradict each other")
	case o.caFile != "" && o.fingerprint != "":
		return errors.New("--ca and --fingerprint are two ways to trust the server: choose one")
	}
	return nil
}

// defaultNick is the login name, reduced to what nicknames allow.
func defaultNick() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	var nick []byte
	for i := 0; i < len(name) && len(nick) < room.MaxNickLen; i++ {
		if room.IsNickByte(name[i]) {
			nick = append(nick, name[i])
		}
	}
	if len(nick) == 0 {
		return "guest"
	}
	return string(nick)
}

// isNickProblem reports whether err says that the nickname cannot be used:
// the server refused it, or it is not a valid one.
func isNickProblem(err error) bool {
	return errors.Is(err, client.ErrNickRefused) || errors.Is(err, room.ErrInvalidNick)
}

// nickProblem says, above the nickname prompt, why the nickname of the
// command line cannot be used, as chatd's SSH screen does.
func nickProblem(nick string, err error) string {
	var refused *client.NickRefusedError
	if errors.As(err, &refused) {
		return fmt.Sprintf("You cannot join as %q: %s", refused.Nick, refused.Reason)
	}
	return fmt.Sprintf("You cannot join as %q: %v", nick, err)
}

// isTerminal reports whether f is a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}
