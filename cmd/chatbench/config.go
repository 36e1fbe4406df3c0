package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxClients bounds --clients; a payload naming a larger sender is not one
// of ours.
const maxClients = 1_000_000

// maxTargets bounds the lists of --addr, --ssh, --pid, --nats-pid and
// --nats-monitor: each target keeps a latency histogram of its own.
const maxTargets = 64

// Protocols of a TLS server.
const (
	protoChatd = "chatd" // send a nickname first; joined at "*** NICK joined"
	protoRaw   = "raw"   // nothing first; joined once connected (ncat --chat)
)

// config is one benchmark run, as the flags describe it.
type config struct {
	addr       string // TLS servers, host:port[,host:port...]; empty in SSH mode
	sshAddr    string // SSH servers, host:port[,host:port...]; empty in TLS mode
	proto      string
	clients    int
	rate       float64 // messages per second per sending client
	duration   time.Duration
	drain      time.Duration
	ramp       float64 // new connections per second
	settle     time.Duration
	rawWait    time.Duration
	timeout    time.Duration
	nickPrefix string
	pad        int // extra bytes of filler after each payload
	idle       bool
	typers     int // SSH sessions that type; 0 means all

	ca         string
	insecure   bool
	serverName string
	sshHostKey string // expected SHA256 fingerprint of the SSH host key
	sshJoin    string // text that shows an SSH session has joined; %s is the nick
	cols, rows int

	pids        pidList // the servers' processes (chatd), CPU time and RSS summed
	natsPIDs    pidList // the NATS servers' processes, CPU time summed apart
	natsMonitor string  // NATS monitoring URLs, comma-separated, for /varz
	metrics     string  // URL of the server's Prometheus metrics, for its heap in use
	label       string
	json        bool
	quiet       bool
	version     bool
	progress    io.Writer // where progress lines go; nil for none
}

// defaultConfig is what an empty command line means.
func defaultConfig() config {
	return config{
		proto:      protoChatd,
		clients:    100,
		rate:       1,
		duration:   10 * time.Second,
		drain:      2 * time.Second,
		ramp:       200,
		settle:     time.Second,
		rawWait:    time.Second,
		timeout:    30 * time.Second,
		nickPrefix: "bench",
		sshJoin:    "· %s", // chatd's status line ends with the nickname once joined; a join line can scroll away
		cols:       100,
		rows:       30,
	}
}

func newFlags(cfg *config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("chatbench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.addr, "addr", "", "`HOST:PORT` of a line-broadcast TLS chat server (chatd, ncat --ssl --chat); several, comma-separated (the nodes of one chatd cluster), get the clients in turn: client i connects to the (i mod N)th")
	fs.StringVar(&cfg.sshAddr, "ssh", "", "`HOST:PORT` of chatd's SSH server: benchmark SSH sessions on a PTY instead; several, comma-separated, as with --addr")
	fs.StringVar(&cfg.proto, "proto", cfg.proto, "`PROTO` of the TLS server: chatd (send a nickname, wait for \"*** NICK joined\") or raw (send nothing first, e.g. ncat)")
	fs.IntVar(&cfg.clients, "clients", cfg.clients, "`N` clients (TLS connections or SSH sessions)")
	fs.Float64Var(&cfg.rate, "rate", cfg.rate, "`N` messages per second each sending client sends")
	fs.DurationVar(&cfg.duration, "duration", cfg.duration, "length of the measured phase (sending; with --idle, holding the connections)")
	fs.DurationVar(&cfg.drain, "drain", cfg.drain, "longest wait after the last send for late deliveries")
	fs.Float64Var(&cfg.ramp, "ramp", cfg.ramp, "`N` new connections per second while connecting")
	fs.DurationVar(&cfg.settle, "settle", cfg.settle, "pause between the last join and the measured phase, for the server to finish announcing the joins")
	fs.DurationVar(&cfg.rawWait, "raw-wait", cfg.rawWait, "with --proto raw, a client has joined at the first line from the server, or after this long without one")
	fs.DurationVar(&cfg.timeout, "timeout", cfg.timeout, "limit for one client to connect and join")
	fs.StringVar(&cfg.nickPrefix, "nick-prefix", cfg.nickPrefix, "clients are named `PREFIX`000, PREFIX001, ... (nickname or SSH user)")
	fs.IntVar(&cfg.pad, "pad", 0, "`BYTES` of filler added to each message")
	fs.BoolVar(&cfg.idle, "idle", false, "connect the clients, send nothing, report connections and server RSS")
	fs.IntVar(&cfg.typers, "typers", 0, "`M` SSH sessions that type (the others only watch); 0 means all")
	fs.StringVar(&cfg.ca, "ca", "", "PEM `FILE` of certificates to verify the TLS server with (default: the system's)")
	fs.BoolVar(&cfg.insecure, "insecure", false, "do not verify the TLS server's certificate")
	fs.StringVar(&cfg.serverName, "server-name", "", "`NAME` to send as SNI and to verify the certificate for (default: the host of --addr)")
	fs.StringVar(&cfg.sshHostKey, "ssh-host-key", "", "`SHA256:...` fingerprint the SSH host key must have (default: accept any)")
	fs.StringVar(&cfg.sshJoin, "ssh-joined", cfg.sshJoin, "`TEXT` on an SSH screen that shows the session joined (%s is its nickname; \"\" means at the first output)")
	fs.IntVar(&cfg.cols, "cols", cfg.cols, "SSH terminal width in `COLUMNS`")
	fs.IntVar(&cfg.rows, "rows", cfg.rows, "SSH terminal height in `ROWS`")
	fs.Var(&cfg.pids, "pid", "`PID` of the server (on this machine) whose CPU time and RSS to report; several, comma-separated (every chatd node), are summed")
	fs.Var(&cfg.natsPIDs, "nats-pid", "`PID` of a NATS server (on this machine) that chatd uses; several, comma-separated: their CPU time, summed, is reported apart from chatd's and added to it in the total per delivery")
	fs.StringVar(&cfg.natsMonitor, "nats-monitor", "", "`URL` of a NATS server's monitoring endpoint (nats-server -m PORT: http://HOST:PORT); several, comma-separated: the messages the servers received and sent in the measured phase, from /varz, summed and divided by the messages sent (bus messages per public event)")
	fs.StringVar(&cfg.metrics, "metrics", "", "`URL` of the server's Prometheus metrics (chatd --metrics-addr, http://HOST:PORT/metrics): report its Go heap in use at the end, while the clients are still connected")
	fs.StringVar(&cfg.label, "label", "", "`NAME` of this run in the report")
	fs.BoolVar(&cfg.json, "json", false, "print the report as one JSON object (the table goes to standard error)")
	fs.BoolVar(&cfg.quiet, "quiet", false, "print no progress on standard error")
	fs.BoolVar(&cfg.version, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprint(out, `Usage:
  chatbench --addr HOST:PORT [--proto chatd|raw] [flags]   TLS line clients
  chatbench --ssh HOST:PORT [flags]                        SSH sessions on a PTY

Connects --clients clients at --ramp per second, waits until all have joined,
then each sends --rate messages per second for --duration; every other client
records each message's latency. Reports deliveries, latency percentiles and,
with --pid, the server's CPU time and memory. With several servers (the
nodes of one chatd cluster: --addr a,b,c) the clients are spread over them in
turn and each server's share is reported too; --nats-pid and --nats-monitor
add the NATS servers' CPU time and messages.

Flags:
`)
		printFlags(fs, out)
	}
	return fs
}

// printFlags lists the flags GNU-style, "--name VALUE", with defaults.
func printFlags(fs *flag.FlagSet, out io.Writer) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(out, "  --%s", f.Name)
		if name != "" {
			fmt.Fprintf(out, " %s", name)
		}
		fmt.Fprintf(out, "\n\t%s", usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(out, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(out)
	})
}

// parseArgs parses the command line into a validated config.
func parseArgs(args []string, out io.Writer) (config, error) {
	cfg := defaultConfig()
	fs := newFlags(&cfg, out)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	if cfg.version {
		return cfg, nil
	}
	return cfg, cfg.validate()
}

func (c *config) validate() error {
	var errs []error
	switch {
	case c.addr == "" && c.sshAddr == "":
		errs = append(errs, errors.New("say which server: --addr HOST:PORT (TLS) or --ssh HOST:PORT"))
	case c.addr != "" && c.sshAddr != "":
		errs = append(errs, errors.New("--addr and --ssh exclude each other"))
	}
	for _, a := range []struct{ flag, v string }{{"--addr", c.addr}, {"--ssh", c.sshAddr}} {
		if a.v != "" {
			errs = append(errs, checkAddrs(a.flag, a.v))
		}
	}
	errs = append(errs, checkMonitors(c.natsMonitor))
	if c.proto != protoChatd && c.proto != protoRaw {
		errs = append(errs, fmt.Errorf("--proto %q: want %s or %s", c.proto, protoChatd, protoRaw))
	}
	if c.clients < 1 || c.clients > maxClients {
		errs = append(errs, fmt.Errorf("--clients %d: want 1 to %d", c.clients, maxClients))
	}
	if !c.idle && (c.rate <= 0 || c.rate > 1e6) {
		errs = append(errs, fmt.Errorf("--rate %g: want more than 0 and at most 1e6", c.rate))
	}
	if c.ramp <= 0 {
		errs = append(errs, fmt.Errorf("--ramp %g: want more than 0", c.ramp))
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--duration", c.duration}, {"--timeout", c.timeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: want more than 0", d.flag, d.v))
		}
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--drain", c.drain}, {"--settle", c.settle}, {"--raw-wait", c.rawWait}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v: want 0 or more", d.flag, d.v))
		}
	}
	if c.pad < 0 || c.pad > 1<<20 {
		errs = append(errs, fmt.Errorf("--pad %d: want 0 to %d", c.pad, 1<<20))
	}
	if c.typers < 0 {
		errs = append(errs, fmt.Errorf("--typers %d: want 0 or more", c.typers))
	}
	if c.cols < 20 || c.rows < 5 || c.cols > 1000 || c.rows > 1000 {
		errs = append(errs, fmt.Errorf("--cols %d --rows %d: want 20-1000 by 5-1000", c.cols, c.rows))
	}
	if strings.Count(c.sshJoin, "%s") > 1 {
		errs = append(errs, fmt.Errorf("--ssh-joined %q: at most one %%s", c.sshJoin))
	}
	return errors.Join(errs...)
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// checkAddrs validates a comma-separated list of host:port.
func checkAddrs(flag, v string) error {
	addrs := splitList(v)
	if len(addrs) == 0 || len(addrs) > maxTargets {
		return fmt.Errorf("%s %.80q: want 1 to %d HOST:PORT, comma-separated", flag, v, maxTargets)
	}
	var errs []error
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("%s %.80q: %w", flag, a, err))
		}
	}
	return errors.Join(errs...)
}

// checkMonitors validates --nats-monitor: http(s) URLs with a host.
func checkMonitors(v string) error {
	urls := splitList(v)
	if len(urls) > maxTargets {
		return fmt.Errorf("--nats-monitor: %d URLs, want at most %d", len(urls), maxTargets)
	}
	var errs []error
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--nats-monitor %.80q: want http://HOST:PORT", s))
		}
	}
	return errors.Join(errs...)
}

// pidList is a flag of comma-separated process ids.
type pidList []int

func (p *pidList) String() string {
	if p == nil {
		return ""
	}
	s := make([]string, len(*p))
	for i, pid := range *p {
		s[i] = strconv.Itoa(pid)
	}
	return strings.Join(s, ",")
}

// Set parses "PID[,PID...]", replacing what was there.
func (p *pidList) Set(v string) error {
	items := splitList(v)
	if len(items) == 0 || len(items) > maxTargets {
		return fmt.Errorf("want 1 to %d process ids, comma-separated", maxTargets)
	}
	pids := make(pidList, 0, len(items))
	for _, item := range items {
		pid, err := strconv.Atoi(item)
		if err != nil || pid <= 0 {
			return fmt.Errorf("%.20q is not a process id", item)
		}
		pids = append(pids, pid)
	}
	*p = pids
	return nil
}

// mode names what is being measured: "tls", "ssh" or "idle-tls", "idle-ssh".
func (c *config) mode() string {
	m := "tls"
	if c.sshAddr != "" {
		m = "ssh"
	}
	if c.idle {
		m = "idle-" + m
	}
	return m
}

// target is the address (or the comma-separated addresses) being
// benchmarked.
func (c *config) target() string {
	if c.sshAddr != "" {
		return c.sshAddr
	}
	return c.addr
}

// targets are the servers the clients are spread over, in order: at
// least one, even before validation.
func (c *config) targets() []string {
	if t := splitList(c.target()); len(t) > 0 {
		return t
	}
	return []string{c.target()}
}

// targetOf is the index of the server, of n, that client i connects to:
// the clients go to the servers in turn.
func targetOf(i, n int) int { return i % n }

// nick is client i's nickname (or SSH user name).
func (c *config) nick(i int) string { return fmt.Sprintf("%s%03d", c.nickPrefix, i) }

// sending reports whether client i sends messages.
func (c *config) sending(i int) bool {
	if c.idle {
		return false
	}
	return c.sshAddr == "" || c.typers == 0 || i < c.typers
}

// senders is how many clients send.
func (c *config) senders() int {
	switch {
	case c.idle:
		return 0
	case c.sshAddr != "" && c.typers > 0:
		return min(c.typers, c.clients)
	}
	return c.clients
}
