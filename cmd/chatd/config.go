package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"chatd/access"
	"chatd/connlimit"
	"chatd/internal/jetlog"
	"chatd/room"
	"chatd/sshgw"
	"chatd/tlsgw"
)

// envPrefix starts the environment variable that can set each flag:
// --data-dir is CHATD_DATA_DIR.
const envPrefix = "CHATD_"

// config is everything chatd's serve mode is told.
type config struct {
	dataDir   string
	publicDir string
	tlsAddr   string
	sshAddr   string
	cert      string
	key       string
	hosts     listFlag
	version   bool

	logFormat   string
	logMessages bool
	keylog      string
	metricsAddr string
	pprof       bool

	store    storeConfig
	cluster  clusterConfig
	access   accessConfig
	policy   access.Policy // --access, once checked
	noneAuth autoBool      // --ssh-none-auth, as given (see validate)
	room     room.Config
	tls      tlsgw.Config
	ssh      sshgw.Config
	conns    connlimit.Limits
}

// listFlag is a repeatable string flag; from the environment it takes a
// comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

func newServeFlags(cfg *config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("chatd", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.dataDir, "data-dir", "chatd-data", "`DIR` for the generated certificate, the SSH host key and the room's history (in nats/)")
	fs.StringVar(&cfg.publicDir, "public-dir", "", "`DIR` for a copy of the served certificate that every local user may read, to hand out (default: public in --data-dir, which is then made passable, mode 0711)")
	fs.StringVar(&cfg.tlsAddr, "tls-addr", ":7443", "`ADDR` of the TLS line-protocol listener")
	fs.StringVar(&cfg.sshAddr, "ssh-addr", ":2222", "`ADDR` of the SSH listener (\"\" turns SSH off)")
	cfg.noneAuth = autoBool{value: true}
	fs.Var(&cfg.noneAuth, "ssh-none-auth", "let SSH clients in without asking anything (the \"none\" method): ssh -o BatchMode=yes gets in without a key, but ssh then never shows its key, so SSH members are known by their address and cannot /register; false asks for any key (members are known by it), or keyboard-interactive with no questions. Never a password. On by default, off by default with --admins or an --access other than open")
	fs.StringVar(&cfg.access.policy, "access", "open", "who may join: open (anyone), registered (credentials of registered nicknames and of the allowlist) or allowlist (the allowlist only: other SSH keys do not even authenticate); owners (--admins) always may")
	fs.StringVar(&cfg.access.allowlist, "allowlist", "", "`FILE` of credentials to add to the stored allowlist at start: authorized_keys lines, SHA256: key fingerprints and sha256: certificate fingerprints, one per line; each is added once: a line taken out of the file stays allowed until /disallow, and what /disallow takes out stays out")
	fs.StringVar(&cfg.access.admins, "admins", "", "`FILE` naming the room's owners, in --allowlist's format: always admitted, always operators, never de-opped; re-read on SIGHUP")
	fs.StringVar(&cfg.cert, "cert", "", "PEM certificate (chain) `FILE` to serve instead of the generated one; needs --key")
	fs.StringVar(&cfg.key, "key", "", "PEM private key `FILE` of --cert")
	fs.Var(&cfg.hosts, "host", "extra host `NAME` or IP address the generated certificate must cover (repeatable)")
	fs.BoolVar(&cfg.version, "version", false, "print the version and exit")
	fs.TextVar(&cfg.tls.Profile, "tls-profile", tlsgw.ProfileIntermediate, "TLS `PROFILE` after Mozilla's server-side profiles: modern (TLS 1.3 only), intermediate (TLS 1.2 and 1.3, AEAD suites only) or old (adds TLS 1.0, 1.1 and CBC suites, on purpose, for hardening exercises: never for real use)")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log `FORMAT`: text or json")
	fs.StringVar(&cfg.metricsAddr, "metrics-addr", "", "`ADDR` to serve Prometheus /metrics and /healthz on (off when empty)")
	fs.BoolVar(&cfg.pprof, "pprof", false, "also serve Go's profiler at /debug/pprof/ on --metrics-addr (keep that address on localhost: profiles reveal memory contents and cost CPU)")
	fs.BoolVar(&cfg.logMessages, "log-messages", false, "also log the text of every message (for labs; off keeps message bodies out of logs)")
	fs.StringVar(&cfg.keylog, "keylog", "", "append every TLS session's secrets to `FILE` (NSS key log format, created 0600) so that Wireshark or tshark can decrypt a capture: for labs only; the banner, every connection's log records and every TLS member's greeting say so")
	addStoreFlags(fs, &cfg.store)
	addClusterFlags(fs, &cfg.cluster)
	addLimitFlags(fs, cfg)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage:\n  chatd [flags]              serve the chat room\n  chatd cert [flags]         write a self-signed certificate and key\n  chatd export [flags]       write the room's history as JSON lines\n  chatd mitm [flags]         intercept clients (a man in the middle, for labs; see chatd mitm --help)\n\nFlags (each also settable as %s<NAME>, e.g. %sTLS_ADDR):\n", envPrefix, envPrefix)
		printFlags(fs, out, true)
	}
	return fs
}

// addStoreFlags declares the flags that say where and how long the room's
// history is kept.
func addStoreFlags(fs *flag.FlagSet, s *storeConfig) {
	fs.StringVar(&s.kind, "store", storeEmbedded, "where the room's public history is kept (private messages never are): embedded (a NATS JetStream server inside chatd, its files in nats/ under --data-dir, no port opened) or memory (forgotten at every restart)")
	fs.StringVar(&s.natsURL, "nats", "", "`URL` of an existing NATS server (nats-server 2.11 or later, JetStream on) to keep the history on instead of the embedded one, e.g. nats://127.0.0.1:4222; several, comma-separated, for a cluster; give chatd its own account: whoever may publish to chatd.room.events can write history")
	fs.StringVar(&s.natsCA, "nats-ca", "", "PEM `FILE` of the CA that signed --nats's TLS certificate (default: the system's)")
	fs.StringVar(&s.natsCreds, "nats-creds", "", "NATS credentials `FILE` (user JWT and seed) for --nats")
	fs.StringVar(&s.natsCert, "nats-cert", "", "PEM client certificate `FILE` chatd presents to --nats (a NATS server that verifies clients); needs --nats-key")
	fs.StringVar(&s.natsKey, "nats-key", "", "PEM private key `FILE` of --nats-cert")
	fs.Int64Var(&s.keep, "history-keep", jetlog.DefaultMaxMsgs, "public events the store keeps, at least 1; older ones are removed (--history says how many of them a joiner is shown)")
	fs.DurationVar(&s.maxAge, "history-max-age", jetlog.DefaultMaxAge, "how long the store keeps an event, at least 1s (e.g. 168h for a week); older ones are removed")
}

// addLimitFlags declares the flags that bound what one client may cost.
func addLimitFlags(fs *flag.FlagSet, cfg *config) {
	fs.IntVar(&cfg.room.HistorySize, "history", room.DefaultHistorySize, "public events replayed to a joiner")
	fs.IntVar(&cfg.room.OutboxSize, "outbox", room.DefaultOutboxSize, "events queued for one member; a member that falls further behind skips events and is told how many")
	fs.IntVar(&cfg.room.MaxLineBytes, "max-line", room.DefaultMaxLineBytes, "longest line a member may send, in bytes; longer ones are refused")
	fs.Float64Var(&cfg.room.FloodRate, "flood-rate", room.DefaultFloodRate, "lines per second a member may send, sustained")
	fs.IntVar(&cfg.room.FloodBurst, "flood-burst", room.DefaultFloodBurst, "lines a member may send at once")
	fs.IntVar(&cfg.room.FloodKick, "flood-kick", room.DefaultFloodKick, "a member whose flood queue is full each time a line goes out of it, this many times in a row, and which still sends, is disconnected for flooding (at --flood-rate 2, 20 is 10 seconds); so is one with more than 16 queues' worth of lines dropped at once")
	fs.IntVar(&cfg.room.FloodQueue, "flood-queue", room.DefaultFloodQueue, "lines a member typed beyond the flood limit that wait their turn (a paste), at 512 bytes a line on average; what does not fit is dropped, with one notice")
	fs.IntVar(&cfg.room.NickBurst, "nick-burst", room.DefaultNickBurst, "nickname changes a member may make at once")
	fs.DurationVar(&cfg.room.NickEvery, "nick-every", room.DefaultNickEvery, "after the burst, one nickname change per this long")
	fs.DurationVar(&cfg.room.NickGrace, "nick-grace", room.DefaultNickGrace, "how long the nickname of a member who lost its connection is kept for it (same SSH key or TLS client certificate, else same address)")
	fs.Float64Var(&cfg.room.PrivateRate, "private-rate", room.DefaultPrivateRate, "private messages per second one member may receive from one sender (SSH key or TLS client certificate, else address), sustained")
	fs.IntVar(&cfg.room.PrivateBurst, "private-burst", room.DefaultPrivateBurst, "private messages one member may receive at once")
	fs.IntVar(&cfg.room.QuietJoinsAbove, "quiet-joins-above", room.DefaultQuietJoinsAbove, "room size above which joins and leaves are summed up in one line per --presence-every instead of announced one by one")
	fs.DurationVar(&cfg.room.PresenceEvery, "presence-every", room.DefaultPresenceEvery, "in a room above --quiet-joins-above, at most one summary of joins and leaves per this long")
	fs.IntVar(&cfg.room.MembersListed, "members-listed", room.DefaultMembersListed, "most nicknames a member list (on joining, /who) names; it counts the rest")
	fs.IntVar(&cfg.tls.ReadBuffer, "line-buffer", tlsgw.DefaultReadBuffer, "bytes a TLS client may send without a newline before it is disconnected")
	fs.DurationVar(&cfg.tls.HandshakeTimeout, "handshake-timeout", tlsgw.DefaultHandshakeTimeout, "time allowed for a TLS handshake")
	fs.DurationVar(&cfg.tls.NickTimeout, "nick-timeout", tlsgw.DefaultNickTimeout, "time a TLS client has to choose a nickname")
	fs.DurationVar(&cfg.tls.WriteTimeout, "write-timeout", tlsgw.DefaultWriteTimeout, "time allowed for each write to a client, TLS or SSH; a client that stops reading is disconnected")
	fs.DurationVar(&cfg.ssh.HandshakeTimeout, "ssh-handshake-timeout", sshgw.DefaultHandshakeTimeout, "time allowed for an SSH key exchange and authentication, and for a connection to go without a session")
	fs.IntVar(&cfg.conns.MaxConns, "max-conns", connlimit.DefaultMaxConns, "connections open at once, TLS and SSH together")
	fs.IntVar(&cfg.conns.MaxPerIP, "max-conns-per-ip", connlimit.DefaultMaxPerIP, "connections open at once from one IP address")
	fs.Float64Var(&cfg.conns.RatePerIP, "conn-rate-per-ip", connlimit.DefaultRatePerIP, "new connections per second from one IP address, sustained")
	fs.IntVar(&cfg.conns.BurstPerIP, "conn-burst-per-ip", connlimit.DefaultBurstPerIP, "new connections at once from one IP address")
}

// noEnv is the flags that the environment does not set.
var noEnv = map[string]bool{"version": true, "since": true}

// parseFlags sets fs's flags from the environment, then from args, which win.
// A nil getenv reads no environment.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if getenv == nil || noEnv[f.Name] {
			return
		}
		if v := getenv(envName(f.Name)); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", envName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	return nil
}

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// printFlags lists flags GNU-style with their default and, if withEnv, their
// environment variable.
func printFlags(fs *flag.FlagSet, out io.Writer, withEnv bool) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(out, "  --%s", f.Name)
		if name != "" {
			fmt.Fprintf(out, " %s", name)
		}
		var notes []string
		if withEnv && !noEnv[f.Name] {
			notes = append(notes, "env "+envName(f.Name))
		}
		if f.DefValue != "" && f.DefValue != "false" {
			notes = append(notes, fmt.Sprintf("default %q", f.DefValue))
		}
		fmt.Fprintf(out, "\n\t%s", usage)
		if len(notes) > 0 {
			fmt.Fprintf(out, " (%s)", strings.Join(notes, ", "))
		}
		fmt.Fprintln(out)
	})
}

// autoBool is a boolean flag that remembers whether it was given, so that
// its default can depend on other flags.
type autoBool struct{ value, set bool }

func (b *autoBool) String() string   { return strconv.FormatBool(b.value) }
func (b *autoBool) IsBoolFlag() bool { return true }

func (b *autoBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	b.value, b.set = v, true
	return nil
}

// checkAccess checks the access flags and settles --ssh-none-auth: on
// unless the room knows its members by their credentials (a policy other
// than open, or owners), which SSH shows only when it asks for keys.
func (c *config) checkAccess() error {
	policy, err := c.access.check(c.noneAuth.value, c.noneAuth.set)
	if err != nil {
		return err
	}
	c.policy = policy
	c.ssh.NoneAuth = c.noneAuth.value
	if !c.noneAuth.set {
		c.ssh.NoneAuth = policy == access.Open && c.access.admins == ""
	}
	return nil
}

func (c *config) validate() error {
	if (c.cert == "") != (c.key == "") {
		return fmt.Errorf("--cert and --key go together")
	}
	if c.tlsAddr == "" {
		return fmt.Errorf("--tls-addr must not be empty")
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return fmt.Errorf("--log-format must be text or json, not %q", c.logFormat)
	}
	positive := []struct {
		flag  string
		value float64
	}{
		{"--history", float64(c.room.HistorySize)}, {"--outbox", float64(c.room.OutboxSize)}, {"--max-line", float64(c.room.MaxLineBytes)},
		{"--flood-rate", c.room.FloodRate}, {"--flood-burst", float64(c.room.FloodBurst)}, {"--flood-kick", float64(c.room.FloodKick)},
		{"--flood-queue", float64(c.room.FloodQueue)},
		{"--nick-burst", float64(c.room.NickBurst)}, {"--nick-every", float64(c.room.NickEvery)},
		{"--nick-grace", float64(c.room.NickGrace)}, {"--private-rate", c.room.PrivateRate}, {"--private-burst", float64(c.room.PrivateBurst)},
		{"--quiet-joins-above", float64(c.room.QuietJoinsAbove)}, {"--presence-every", float64(c.room.PresenceEvery)},
		{"--members-listed", float64(c.room.MembersListed)},
		{"--line-buffer", float64(c.tls.ReadBuffer)}, {"--handshake-timeout", float64(c.tls.HandshakeTimeout)},
		{"--nick-timeout", float64(c.tls.NickTimeout)}, {"--write-timeout", float64(c.tls.WriteTimeout)},
		{"--ssh-handshake-timeout", float64(c.ssh.HandshakeTimeout)},
		{"--max-conns", float64(c.conns.MaxConns)}, {"--max-conns-per-ip", float64(c.conns.MaxPerIP)},
		{"--conn-rate-per-ip", c.conns.RatePerIP}, {"--conn-burst-per-ip", float64(c.conns.BurstPerIP)},
	}
	for _, p := range positive {
		if p.value <= 0 {
			return fmt.Errorf("%s must be positive", p.flag)
		}
	}
	if c.publicDir != "" && filepath.Clean(absPath(c.publicDir)) == filepath.Clean(absPath(c.dataDir)) {
		return fmt.Errorf("--public-dir must not be the data directory: every user could list it")
	}
	if c.pprof && c.metricsAddr == "" {
		return fmt.Errorf("--pprof serves on --metrics-addr, which is not set")
	}
	if err := c.store.check(); err != nil {
		return err
	}
	if err := c.cluster.check(c.store); err != nil {
		return err
	}
	if c.store.kind != storeMemory && int64(c.room.HistorySize) > c.store.keep {
		if c.room.HistorySize != room.DefaultHistorySize {
			return fmt.Errorf("--history (%d) is more than --history-keep (%d): a joiner cannot be shown more events than the store keeps", c.room.HistorySize, c.store.keep)
		}
		c.room.HistorySize = int(c.store.keep) // --history left at its default: show what is kept
	}
	if err := c.checkAccess(); err != nil {
		return err
	}
	if c.tls.ReadBuffer <= c.room.MaxLineBytes {
		return fmt.Errorf("--line-buffer (%d) must exceed --max-line (%d), so that a long line is refused politely", c.tls.ReadBuffer, c.room.MaxLineBytes)
	}
	return nil
}
