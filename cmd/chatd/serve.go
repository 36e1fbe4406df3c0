package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"chatd/access"
	"chatd/certs"
	"chatd/connlimit"
	"chatd/gateway"
	"chatd/internal/keylog"
	"chatd/room"
	"chatd/sshgw"
	"chatd/tlsgw"
)

// shutdownTimeout bounds how long members get to receive the goodbye.
const shutdownTimeout = 5 * time.Second

// hostKeyFileName is the SSH host key's file in the data directory.
const hostKeyFileName = "ssh_host_ed25519_key"

// parts are what chatd builds once and shares between the servers it
// starts.
type parts struct {
	cfg   *config
	room  *room.Room
	dir   *access.Directory    // who is who, at the gateways' doors and consoles
	guard *connlimit.Guard     // every gateway's listener goes through it
	reg   *prometheus.Registry // what /metrics serves
	// metrics is where the parts register their metrics: reg, with a
	// node label on a node of several (nodeRegisterer).
	metrics prometheus.Registerer
	banner  *banner
	logger  *slog.Logger
	host    string         // the name users connect to
	keyLog  *keylog.Writer // --keylog's file, nil when off
}

// listening is a server with the listener it is to serve.
type listening struct {
	server gateway.Server
	ln     net.Listener
}

// run serves the listener until the server is shut down. It returns an
// error only if the server failed.
func (l listening) run() error {
	if err := l.server.Serve(l.ln); err != nil && !errors.Is(err, gateway.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", l.server.Name(), err)
	}
	return nil
}

// serve runs the room and its servers until ctx is cancelled, then shuts
// them down within shutdownTimeout.
func serve(ctx context.Context, stopSignals func(), cfg *config, stdout io.Writer, logger *slog.Logger) error {
	// SIGHUP is caught from the start: by default it would kill chatd,
	// and one may come while the banner is being read.
	hangups := make(chan os.Signal, 1)
	signal.Notify(hangups, syscall.SIGHUP)
	defer signal.Stop(hangups)
	b := newBanner(cfg.logFormat, stdout, logger)
	keyLog, err := openKeyLog(cfg.keylog, b)
	if err != nil {
		return err
	}
	if keyLog != nil {
		defer keyLog.Close()
	}
	keeper := newCertKeeper(cfg, logger)
	cert, err := keeper.start(b)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	if store != nil {
		defer closeStore(store, logger)
	}
	b.say(storePart(cfg.store, absPath(filepath.Join(cfg.dataDir, natsDirName)), cfg.room.HistorySize))
	reg := prometheus.NewRegistry()
	metrics := nodeRegisterer(reg, cfg.cluster)
	node, err := joinCluster(ctx, cfg, store, metrics, logger)
	if err != nil {
		return err
	}
	if node != nil {
		defer closeNode(node, logger)
		b.say(clusterPart(cfg.cluster, node))
		if unauthenticatedNATS(cfg.store) {
			b.warn(openNATSPart(cfg.store))
		}
	}
	dir, err := openDirectory(ctx, cfg, cfg.policy, store, relayOf(node), metrics, logger)
	if err != nil {
		return err
	}
	defer closeDirectory(dir, logger)
	b.say(accessPart(cfg.access, cfg.policy, cfg.store))
	roomCfg := cfg.room
	roomCfg.Log = roomLog(store)
	failures := newStoreFailures(store)
	roomCfg.StoreFailed, roomCfg.Logger = failures.note, logger.With("part", "store")
	governRoom(&roomCfg, dir, node)
	chatRoom := room.New(roomCfg)
	collectors := []prometheus.Collector{failures.vec}
	if node != nil {
		feed, err := follow(ctx, store, chatRoom)
		if err != nil {
			return err
		}
		defer feed.Stop()
		node.Attach(chatRoom)
		collectors = append(collectors, busLag(feed)...)
	}
	if err := dir.Attach(chatRoom); err != nil {
		return fmt.Errorf("access: %w", err)
	}
	guard := connlimit.New(withRefusalLog(cfg.conns, logger))
	err = registerMetrics(metrics, chatRoom, guard)
	for _, c := range collectors {
		if err == nil {
			err = metrics.Register(c)
		}
	}
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	p := &parts{cfg: cfg, room: chatRoom, dir: dir, guard: guard, reg: reg, metrics: metrics, banner: b, logger: logger, host: connectHost(cfg, cert.Cert.Leaf), keyLog: keyLog}
	servers, err := p.startServers(keeper.store, cert)
	if err != nil {
		return err
	}
	// The keeper reloads and renews until serve returns, whatever the
	// reason: a failed listener too, not only the end of ctx.
	keeperCtx, stopKeeper := context.WithCancel(ctx)
	var keeping sync.WaitGroup
	// A SIGHUP reopens the key log (logrotate) and re-reads the owners,
	// then reloads the certificate.
	relay := make(chan os.Signal, 1)
	reopen := func() {
		if keyLog != nil {
			reopenKeyLog(keyLog, logger)
		}
		reloadAdmins(dir, cfg.access.admins, logger)
	}
	keeping.Go(func() { relayHangups(keeperCtx, hangups, relay, reopen) })
	keeping.Go(func() { keeper.run(keeperCtx, relay) })
	defer keeping.Wait()
	defer stopKeeper()

	errs := make(chan error, len(servers))
	for _, l := range servers {
		go func() { errs <- l.run() }()
	}
	var failure error
	ended := 0
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "members", chatRoom.Len())
	case err := <-errs:
		ended++
		failure = cmp.Or(err, errors.New("a listener stopped unexpectedly"))
		logger.Error("shutting down after a failure", "err", failure)
	}
	stopSignals()
	shutDown(chatRoom, servers, logger)
	for ; ended < len(servers); ended++ {
		if err := <-errs; err != nil && failure == nil {
			failure = err
		}
	}
	logger.Info("stopped")
	return failure
}

// startServers listens on the TLS address and, unless they are off, the
// SSH and metrics addresses, the first two behind the connection guard, and
// says how to connect. The gateways register their metrics.
func (p *parts) startServers(store *certs.Store, cert *servedCert) ([]listening, error) {
	starts := []func() (listening, error){func() (listening, error) { return p.startTLS(store, cert) }}
	if p.cfg.sshAddr != "" {
		starts = append(starts, p.startSSH)
	}
	if p.cfg.metricsAddr != "" {
		starts = append(starts, p.startMetrics)
	}
	var servers []listening
	for _, start := range starts {
		l, err := start()
		if err != nil {
			for _, started := range servers {
				started.ln.Close()
			}
			return nil, err
		}
		servers = append(servers, l)
	}
	return servers, nil
}

// startTLS listens on the TLS address and says how to connect.
func (p *parts) startTLS(store *certs.Store, cert *servedCert) (listening, error) {
	ln, err := net.Listen("tcp", p.cfg.tlsAddr)
	if err != nil {
		return listening{}, fmt.Errorf("listen for TLS: %w", err)
	}
	tlsCfg := p.cfg.tls
	tlsCfg.Room, tlsCfg.TLS, tlsCfg.Logger = p.room, tlsgw.ServerConfig(store, tlsCfg.Profile), p.logger
	tlsCfg.Door = p.dir
	if p.keyLog != nil {
		tlsCfg.TLS.KeyLogWriter, tlsCfg.KeyLog = p.keyLog, absPath(p.cfg.keylog)
	}
	tlsServer := tlsgw.NewServer(tlsCfg)
	if err := tlsServer.Register(p.metrics); err != nil {
		ln.Close()
		return listening{}, fmt.Errorf("TLS metrics: %w", err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	caFile := ""
	if cert.SelfSigned {
		caFile = cmp.Or(cert.Public, cert.File)
	}
	p.banner.say(tlsPart(ln.Addr(), tlsCfg.Profile, opensslCommand(p.host, port, caFile)))
	if tlsCfg.Profile.Weak() {
		p.banner.warn(weakProfilePart(tlsCfg.Profile))
	}
	return listening{server: tlsServer, ln: p.guard.Listen(ln)}, nil
}

// startSSH loads or makes the host key, listens on the SSH address and says
// how to connect and which fingerprint to expect.
func (p *parts) startSSH() (listening, error) {
	keyPath := filepath.Join(p.cfg.dataDir, hostKeyFileName)
	sshCfg := p.cfg.ssh
	sshCfg.Addr, sshCfg.HostKeyPath, sshCfg.Room, sshCfg.Logger = p.cfg.sshAddr, keyPath, p.room, p.logger
	sshCfg.Door, sshCfg.Console = p.dir, p.dir
	sshCfg.AuthBanner = sshAuthBanner(p.cfg.policy)
	sshCfg.WriteTimeout = p.cfg.tls.WriteTimeout
	sshCfg.Hosts = p.cfg.hosts // the name its hints give
	// The public half goes into the public directory too: the data
	// directory may be closed to other users (deploy/chatd.service).
	sshCfg.PublicDir = absPath(publicDir(p.cfg))
	sshServer, err := sshgw.NewServer(sshCfg)
	if err != nil {
		return listening{}, err
	}
	if err := sshServer.Register(p.metrics); err != nil {
		return listening{}, fmt.Errorf("SSH metrics: %w", err)
	}
	ln, err := net.Listen("tcp", p.cfg.sshAddr)
	if err != nil {
		return listening{}, fmt.Errorf("listen for SSH: %w", err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	p.banner.say(sshPart(ln.Addr(), absPath(keyPath), absPathOrEmpty(sshServer.HostKeyPublicPath()), sshServer.HostKeyFingerprint(), sshCommand(p.host, port)))
	return listening{server: sshServer, ln: p.guard.Listen(ln)}, nil
}

// shutDown tells every member goodbye, then stops every server at once,
// cutting what is left when shutdownTimeout runs out.
func shutDown(chatRoom *room.Room, servers []listening, logger *slog.Logger) {
	chatRoom.Close(room.ShutdownNotice)
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range servers {
		wg.Go(func() {
			if err := l.server.Shutdown(ctx); err != nil {
				logger.Warn("some connections had to be cut", "front_end", l.server.Name(), "err", err)
			}
		})
	}
	wg.Wait()
}

// withRefusalLog makes the guard log refused connections, at most once a
// second so that a flood of them cannot flood the log too.
func withRefusalLog(limits connlimit.Limits, logger *slog.Logger) connlimit.Limits {
	sometimes := &rate.Sometimes{Interval: time.Second}
	limits.Refused = func(remote net.Addr, reason string) {
		sometimes.Do(func() {
			logger.Warn("connection refused (logged at most once a second)", "remote", remote.String(), "reason", reason)
		})
	}
	return limits
}

// openKeyLog opens --keylog's file, if set, and says loudly in the banner
// and, in both log formats, as a WARN record on the log that TLS sessions
// can be decrypted. It returns nil when --keylog is off.
func openKeyLog(path string, b *banner) (*keylog.Writer, error) {
	if path == "" {
		return nil, nil
	}
	w, err := keylog.OpenWriter(path)
	if err != nil {
		return nil, err
	}
	b.warn(keyLogPart(absPath(path)))
	return w, nil
}

// relayHangups does reopen on every SIGHUP (the key log, the owners), then
// passes the signal on to the certificate keeper, until ctx ends.
func relayHangups(ctx context.Context, hangups <-chan os.Signal, relay chan<- os.Signal, reopen func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case sig := <-hangups:
			reopen()
			select {
			case relay <- sig:
			default: // a reload is already due
			}
		}
	}
}

// reopenKeyLog is what a SIGHUP does to the key log.
func reopenKeyLog(keyLog *keylog.Writer, logger *slog.Logger) {
	path := absPath(keyLog.Path())
	if keyLog.Deleted() {
		logger.Warn("the TLS key log was deleted: the secrets written since went to a file with no name; reopening it by name", "keylog", path)
	}
	if err := keyLog.Reopen(); err != nil {
		logger.Error("key log reopen failed; still writing to the old file", "keylog", path, "err", err)
		return
	}
	logger.Info("key log reopened", "keylog", path)
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// absPathOrEmpty is absPath, but "" for "" (a file that is not there).
func absPathOrEmpty(p string) string {
	if p == "" {
		return ""
	}
	return absPath(p)
}
