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
	"net"
	"os"
	"os/signal"
	"os/user"
	"runtime/debug"
	"syscall"

	"golang.org/x/term"

	"chatd/client"
	"chatd/room"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// defaultPort is chatd's TLS port, used when the address names none.
const defaultPort = "7443"

type options struct {
	addr        string
	nick        string
	caFile      string
	insecure    bool
	plain       bool
	knownPath   string
	showVersion bool
	title       bool
}

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
	opts, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "chat:", err)
		return 2
	}
	if opts.showVersion {
		fmt.Fprintln(stdout, "chat", version)
		return 0
	}
	ui := newConsole(stdin, stderr)
	if opts.insecure {
		ui.warn("WARNING: --insecure: the server's certificate is NOT verified. Anyone on the network path can read and change this chat.")
	}
	session, err := connect(ctx, opts, ui)
	if err != nil {
		ui.fail(err)
		return 1
	}
	if opts.plain {
		return runPlain(session, stdin, stdout, stderr)
	}
	return runScreen(ctx, session, opts.title)
}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.nick, "nick", defaultNick(), "your `NICKNAME`")
	fs.StringVar(&o.caFile, "ca", "", "trust only this CA or self-signed certificate `FILE` (e.g. chatd-data/cert.pem)")
	fs.BoolVar(&o.insecure, "insecure", false, "do not verify the server at all (lab MITM exercises only)")
	fs.BoolVar(&o.plain, "plain", false, "no screen: read lines from stdin, print the server's lines; never prompts")
	fs.StringVar(&o.knownPath, "known-servers", "", "trust-on-first-use `FILE` (default ~/.config/chatd/known_servers)")
	fs.BoolVar(&o.title, "title", false, "show your nick and the messages unread in the terminal's title (also /title on|off)")
	fs.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: chat [flags] HOST[:PORT]   (port %s if omitted)\n\nFlags:\n", defaultPort)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.showVersion {
		return o, nil
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return nil, errors.New("name one server, as HOST:PORT")
	}
	o.addr = withDefaultPort(fs.Arg(0))
	if o.insecure && o.caFile != "" {
		return nil, errors.New("--insecure and --ca contradict each other")
	}
	if err := room.ValidateNick(o.nick); err != nil {
		return nil, fmt.Errorf("--nick: %w", err)
	}
	if o.knownPath == "" {
		var err error
		if o.knownPath, err = client.DefaultKnownServersPath(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func withDefaultPort(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(addr, defaultPort)
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

// isTerminal reports whether f is a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}
