// Package sshgw is chatd's SSH server: it owns the host key, the SSH
// algorithms, the wish middleware stack, the session channels and the keys
// and window sizes a client sends, the connection log and the stall guard,
// and gives every session with a terminal its own chat screen (package tui)
// as one room member. The exec commands who, crypto and help answer without
// joining; other exec commands go to the admin console (Config.Console),
// and a door (Config.Door) decides who may authenticate and start a
// session.
package sshgw

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2"
	"github.com/charmbracelet/colorprofile"
	gossh "golang.org/x/crypto/ssh"

	"chatd/access"
	"chatd/connlimit"
	"chatd/gateway"
	"chatd/room"
	"chatd/tui"
)

// frameInterval is the least time between two frames of a session: under
// a burst of messages a screen draws the newest state at most this often,
// so the burst costs one frame. A message after a quiet spell is drawn at
// once. 33 ms (30 frames a second) keeps typing snappy.
const frameInterval = time.Second / 30

// closeGrace is how long Shutdown waits, once every session has ended, for
// clients to close their connections before it closes them (the Linger of
// the server's gateway.Lifecycle).
const closeGrace = 500 * time.Millisecond

// Defaults for Config fields left zero.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
)

// Config configures the SSH front end.
type Config struct {
	Addr        string // address ListenAndServe listens on, e.g. ":2222"
	HostKeyPath string // <data-dir>/ssh_host_ed25519_key; generated (ed25519, 0600) if missing, reused after
	// PublicDir, if set, is the public directory (chatd's --public-dir, where
	// the certificate's public copy lives): the host key's public half is
	// written there too, for users who cannot pass the data directory, and
	// HostKeyPublicPath names that copy.
	PublicDir string
	Room      *room.Room   // the room every session joins
	Logger    *slog.Logger // nil discards the log
	// HandshakeTimeout bounds the key exchange and authentication together,
	// and how long a connection may go without a session, so that half-open
	// and idle connections do not pile up.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each write of a session's screen: a client that
	// stops reading longer than this is disconnected.
	WriteTimeout time.Duration
	// NoneAuth lets clients in with SSH's "none" authentication method,
	// without asking them anything: "ssh -o BatchMode=yes" gets in without
	// a key. A client tries "none" before anything else, so OpenSSH (and Go's
	// client) then never shows its key, and members are known by their
	// address only. Without NoneAuth a client signs in with any key, or with
	// keyboard-interactive and no questions, and is known by its key. Either
	// way no password is asked for.
	NoneAuth bool
	// Hosts are the names and addresses the server is reached by (chatd's
	// --host): the hint that tells a client how to open the chat names the
	// first DNS name among them (see hintHost).
	Hosts []string
	// Door, if set, is asked before anyone comes in (see door.go): at each
	// authentication attempt, with the identity the session would have,
	// and again when a session starts. nil admits everyone.
	Door access.Door
	// Console, if set, runs the exec commands other than chatd's own
	// (who, crypto, help): "ssh HOST ban mallory 1h spam" is
	// Console.Run with the words and the session's identity. nil means
	// there are no such commands.
	Console access.Console
	// AuthBanner, if set, is shown to every client before it
	// authenticates (SSH's authentication banner, which OpenSSH prints
	// to stderr): chatd says there, under its allowlist policy, how to
	// get in, since a key not on the list only fails its
	// authentication. Cleaned of control characters and bounded to
	// maxAuthBannerBytes.
	AuthBanner string
}

// maxAuthBannerBytes bounds Config.AuthBanner.
const maxAuthBannerBytes = 1024

// Modern SSH algorithms only: post-quantum hybrid and elliptic-curve key
// exchange, AEAD ciphers (or CTR with encrypt-then-MAC), SHA-2 MACs.
var (
	sshKeyExchanges = []string{gossh.KeyExchangeMLKEM768X25519, gossh.KeyExchangeCurve25519, gossh.KeyExchangeECDHP256, gossh.KeyExchangeECDHP384}
	sshCiphers      = []string{gossh.CipherChaCha20Poly1305, gossh.CipherAES256GCM, gossh.CipherAES128GCM, gossh.CipherAES256CTR, gossh.CipherAES128CTR}
	sshMACs         = []string{gossh.HMACSHA256ETM, gossh.HMACSHA512ETM}
)

// Server serves the room over SSH: every session with a terminal gets its
// own chat screen and joins the room as the SSH user name, and the exec
// commands "who" and "help" answer without joining. Anyone the door
// admits may connect (see Config.NoneAuth and Config.Door); nobody is
// asked for a password. It is a
// gateway.Server whose sessions are the chat sessions: Shutdown quits
// their screens.
type Server struct {
	cfg         Config
	log         *slog.Logger
	srv         *ssh.Server
	fingerprint string
	hostKeyType string // the host key's type, e.g. "ssh-ed25519"
	publicPath  string // the host key's public half, or "" if it could not be written
	life        *gateway.Lifecycle

	// kill is the context of every program. It is cancelled only when
	// Shutdown runs out of time, to stop the programs that did not quit.
	kill       context.Context
	cancelKill context.CancelFunc

	// authRefusals limits the door's refusals of authentication
	// attempts by address (admitAuth).
	authRefusals *addrLimiter

	mu       sync.Mutex
	sessions map[ssh.Session]*chatSession
	refused  map[string]uint64 // refusals at the door, by class (access.RefusalClass)
}

// Stats is a snapshot of the SSH server's counters, for metrics.
type Stats struct {
	Sessions uint64            // chat sessions started
	Open     int               // chat sessions open now
	Refused  map[string]uint64 // refusals at the door (Config.Door), by class: RefusedPolicy, RefusedBanned, RefusedOther
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	c := s.life.Counts()
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Sessions: c.Started, Open: c.Sessions, Refused: maps.Clone(s.refused)}
}

// NewServer loads the host key, creating it if missing, and prepares the
// server. It does not listen yet: see Serve and ListenAndServe.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Room == nil {
		return nil, errors.New("tui: Config.Room is nil")
	}
	if cfg.HostKeyPath == "" {
		return nil, errors.New("tui: Config.HostKeyPath is empty")
	}
	keyPEM, signer, err := loadOrCreateHostKey(cfg.HostKeyPath)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:         cfg,
		log:         cfg.Logger,
		fingerprint: gossh.FingerprintSHA256(signer.PublicKey()),
		hostKeyType: signer.PublicKey().Type(),
		sessions:    make(map[ssh.Session]*chatSession),
		refused:     make(map[string]uint64),

		authRefusals: newAddrLimiter(authRefusalEvery, authRefusalBurst, maxLimitedAddrs),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.publicPath = cfg.HostKeyPath + PublicKeySuffix
	if err := writePublicHalf(cfg.HostKeyPath, signer.PublicKey()); err != nil {
		// The server runs without it: the banner still shows the fingerprint.
		s.log.Warn("could not write the SSH host key's public half", "path", s.publicPath, "err", err)
		s.publicPath = ""
	}
	if cfg.PublicDir != "" {
		pub, err := PublishPublicHalf(cfg.PublicDir, filepath.Base(cfg.HostKeyPath), signer.PublicKey())
		if err != nil {
			s.log.Warn("could not write the SSH host key's public half into the public directory", "dir", cfg.PublicDir, "err", err)
		} else {
			s.publicPath = pub
		}
	}
	s.life = gateway.New(gateway.Options{Logger: s.log, EndSessions: s.quitScreens, Linger: closeGrace, Cut: s.killScreens})
	if s.cfg.HandshakeTimeout <= 0 {
		s.cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if s.cfg.WriteTimeout <= 0 {
		s.cfg.WriteTimeout = DefaultWriteTimeout
	}
	s.kill, s.cancelKill = context.WithCancel(context.Background())
	s.srv, err = wish.NewServer(
		wish.WithAddress(cfg.Addr),
		wish.WithHostKeyPEM(keyPEM),
		wish.WithVersion("chatd"),
		// Accept everyone the door admits without asking anything: with
		// "none" (see serverConfig), else with any key, or with
		// keyboard-interactive and no questions. Password authentication
		// is not offered, so ssh never prompts for one.
		wish.WithPublicKeyAuth(s.publicKeyAuth),
		wish.WithKeyboardInteractiveAuth(s.keyboardInteractiveAuth),
		// Middlewares run last to first: the last one listed sees the
		// session first, and each calls the one listed before it.
		wish.WithMiddleware(
			// 6. Innermost: run the chat screen until it quits. It joins
			// the room as the SSH user name, or starts with the nickname
			// prompt if the room refuses that name.
			s.runScreen,
			// 5. Register the session, so that Shutdown can quit its
			// program, and make sure the member leaves the room however
			// the session ends. Outside the screen, so the screen can never
			// return without the member leaving.
			s.trackSession,
			// 4. Answer exec commands (who, crypto, help; others go to
			// Config.Console, or are refused), and
			// refuse a shell without a terminal with a one-line
			// explanation, before anything joins the room or starts a
			// program (the screen has nothing to draw on).
			s.serveCommands,
			// 3. Ask the door (Config.Door) again, and turn a refused
			// session away with the reason.
			s.refuseAtDoor,
			// 2. Refuse user names over maxUserBytes, before the name is
			// used for anything.
			s.refuseLongUser,
			// 1. Outermost: log every session, including refused ones.
			s.logSession,
		),
	)
	if err != nil {
		return nil, fmt.Errorf("tui: ssh server: %w", err)
	}
	s.srv.HandshakeTimeout = s.cfg.HandshakeTimeout
	// Session channels are counted when they are opened, and their
	// requests filtered before charm's session handler sees them.
	s.srv.ChannelHandlers = map[string]ssh.ChannelHandler{"session": s.openSession}
	s.srv.ConnCallback = s.logConnections
	s.srv.ServerConfigCallback = s.serverConfig
	return s, nil
}

// serverConfig is the SSH configuration of each connection, before
// charm.land/ssh adds the host key and the authentication handlers: the
// algorithms, the authentication failures allowed, and the "none" method
// if Config.NoneAuth (which the door, if any, is asked about too).
func (s *Server) serverConfig(ctx ssh.Context) *gossh.ServerConfig {
	cfg := &gossh.ServerConfig{
		Config:       gossh.Config{KeyExchanges: sshKeyExchanges, Ciphers: sshCiphers, MACs: sshMACs},
		MaxAuthTries: sshMaxAuthTries,
	}
	if s.cfg.NoneAuth {
		cfg.NoClientAuth = true
		cfg.NoClientAuthCallback = s.noneAuth(ctx)
	}
	if banner := authBanner(s.cfg.AuthBanner); banner != "" {
		cfg.BannerCallback = func(gossh.ConnMetadata) string { return banner }
	}
	return cfg
}

// authBanner is text as the authentication banner: each line cleaned of
// control characters, newline-terminated, bounded; "" if text is blank.
func authBanner(text string) string {
	var sb strings.Builder
	for line := range strings.Lines(text) {
		line = room.Clean(strings.TrimRight(line, "\r\n"))
		if sb.Len()+len(line)+2 > maxAuthBannerBytes {
			break
		}
		sb.WriteString(line + "\n")
	}
	if strings.TrimSpace(sb.String()) == "" {
		return ""
	}
	return sb.String()
}

// HostKeyFingerprint returns the host key's fingerprint as ssh-keygen -lf
// prints it: "SHA256:" and unpadded base64.
func (s *Server) HostKeyFingerprint() string { return s.fingerprint }

// HostKeyPublicPath is the file that holds the host key's public half
// (in Config.PublicDir if set and written there, else Config.HostKeyPath
// and PublicKeySuffix), whose fingerprint ssh-keygen
// -lf prints; "" if it could not be written.
func (s *Server) HostKeyPublicPath() string { return s.publicPath }

// ListenAndServe listens on the configured address and serves it.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// ErrServerClosed is returned by Serve after Shutdown. It is
// gateway.ErrServerClosed.
var ErrServerClosed = gateway.ErrServerClosed

var _ gateway.Server = (*Server)(nil)

// Name names the server in logs: "SSH".
func (s *Server) Name() string { return "SSH" }

// Serve accepts SSH connections on ln until Shutdown, then returns
// ErrServerClosed (gateway.ErrServerClosed). It closes ln when it returns.
//
// The accept loop is the server's gateway.Lifecycle's, not ssh.Server's,
// so that both gateways accept, count and shut down alike; ssh.Server
// serves each connection (HandleConn).
func (s *Server) Serve(ln net.Listener) error {
	return s.life.Serve(ln, s.serveConn)
}

// serveConn serves one SSH connection until it closes.
func (s *Server) serveConn(c net.Conn) {
	defer s.life.Release(c)
	s.srv.HandleConn(c)
}

// Shutdown stops accepting connections, quits every chat screen (each member
// leaves the room) and waits for the sessions to end, then closes the
// remaining connections, after a short grace (closeGrace) for clients to
// close them, as ssh does once its session has ended, so they see a normal
// end. If ctx ends first, the screens still running are killed, every
// connection is closed, and ctx's error is returned.
//
// ssh.Server's own Shutdown is not used: it waits for the clients to close
// their connections, which an idle client never does.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.life.Shutdown(ctx)
	s.killScreens()
	return err
}

// quitScreens asks every chat screen to quit; each member then leaves the
// room. It is how Shutdown asks the sessions to end.
func (s *Server) quitScreens() {
	s.mu.Lock()
	progs := make([]*tea.Program, 0, len(s.sessions))
	for _, cs := range s.sessions {
		if cs.program != nil {
			progs = append(progs, cs.program)
		}
	}
	s.mu.Unlock()
	for _, p := range progs {
		// Quit waits until the program takes the message, or has ended.
		go p.Quit()
	}
}

// killScreens stops every program that is still running, at once.
func (s *Server) killScreens() { s.cancelKill() }

// chatSession is one SSH session's hold on the room.
type chatSession struct {
	srv  *Server
	sess ssh.Session

	program *tea.Program // guarded by srv.mu

	mu      sync.Mutex
	member  *room.Member
	ended   bool
	refusal error // the Join refusal that ended the session (endRefused)
}

// join joins the room as nick; it is also the nickname prompt's Join. A
// session is one member: once it has joined, or has ended, it joins no more.
// A refusal that asks for no other nickname (finalJoinError) ends the
// session: its screen quits, and the session tells why and exits 1.
func (cs *chatSession) join(nick string) (tui.Conn, error) {
	c := &screenConn{cs: cs}
	c.pump = room.NewPump(room.PumpConfig{Write: c.show, Left: c.ended, Batch: tui.MaxBatch, Linger: eventsLinger})
	id := sessionIdentity(cs.sess)
	m, err := cs.srv.cfg.Room.Join(nick, room.JoinOptions{Echo: true, Wake: c.pump.Wake, Identity: id})
	if err != nil {
		if finalJoinError(err) {
			cs.endRefused(err)
		}
		return nil, err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.ended || cs.member != nil {
		m.Leave(room.Reason{Kind: room.ReasonClosed})
		return nil, errors.New("the session has ended")
	}
	cs.member = m
	cs.srv.log.Info("joined", "transport", "ssh", "remote", cs.sess.RemoteAddr().String(), "nick", nick, "identity", id)
	c.Member = m
	return c, nil
}

// eventsLinger is how long the goroutine that hands a member's events to
// its screen waits for more, in a flow of events, before it ends
// (room.PumpConfig.Linger): an idle screen has none.
const eventsLinger = time.Second

// screenConn is a session's member as its screen sees it (tui.Conn and
// tui.Starter): the member, and the pump that hands its events to the
// session's program once the screen asks for them. The screen asks from
// inside the running program, so the pump never sends to a program that
// has not started; one that has ended takes no more, and its Send returns
// at once.
type screenConn struct {
	*room.Member
	cs      *chatSession
	pump    *room.Pump
	program *tea.Program // set by Start, before the pump starts
}

// A session's screen scrolls back through the room's log with the
// member's Older (room.Member.Older, rate-limited per member).
var _ tui.Pager = (*screenConn)(nil)

// Start starts the pump: the screen shows the chat on this member now.
func (c *screenConn) Start() {
	c.cs.srv.mu.Lock()
	c.program = c.cs.program
	c.cs.srv.mu.Unlock()
	c.pump.Start(c.Member)
}

// show is the pump's Write: it hands a batch to the screen. Send returns
// once the program has taken it, or at once if the program has ended.
func (c *screenConn) show(events []*room.Event) {
	c.program.Send(tui.EventsMsg{Events: slices.Clone(events)})
}

// ended is the pump's Left: the member has left, and the screen was shown
// everything.
func (c *screenConn) ended() {
	c.program.Send(tui.EventsMsg{Closed: true})
}

// sessionIdentity is who an SSH client is: its address and the public key
// it signed in with, if any.
func sessionIdentity(sess ssh.Session) room.Identity {
	id := room.Identity{Transport: room.TransportSSH, Address: connlimit.Source(sess.RemoteAddr())}
	if key := sess.PublicKey(); key != nil {
		id.KeyFingerprint = gossh.FingerprintSHA256(key)
	}
	return id
}

// leave takes the member, if any, out of the room, and stops later joins. It
// returns the member.
func (cs *chatSession) leave(reason room.Reason) *room.Member {
	cs.mu.Lock()
	cs.ended = true
	m := cs.member
	cs.mu.Unlock()
	if m != nil {
		m.Leave(reason)
	}
	return m
}

// logSession logs the start and end of every session, at debug level: the
// connection's own records (see connLog) are the ones that matter.
func (s *Server) logSession(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		start := time.Now()
		if sc := channelOf(sess); sc != nil {
			defer sc.finish()
		}
		user := boundedUser(sess.User())
		_, _, pty := sess.Pty()
		s.log.Debug("ssh session", "user", user, "remote", sess.RemoteAddr().String(), "terminal", pty)
		next(sess)
		s.log.Debug("ssh session ended", "user", user, "remote", sess.RemoteAddr().String(),
			"duration", time.Since(start).Round(time.Millisecond))
	}
}

// trackSession registers the session for Shutdown and, when the screen is
// done, makes its member leave and tells the person why the chat ended.
func (s *Server) trackSession(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		cs := &chatSession{srv: s, sess: sess}
		s.mu.Lock()
		if !s.life.StartSession() {
			s.mu.Unlock()
			fmt.Fprintln(sess.Stderr(), "chatd: the server is shutting down")
			_ = sess.Exit(1)
			return
		}
		s.sessions[sess] = cs
		s.mu.Unlock()

		defer func() {
			s.mu.Lock()
			reason := room.Reason{Kind: room.ReasonClosed}
			if s.life.Closing() {
				reason = room.Reason{Kind: room.ReasonShutdown}
			}
			delete(s.sessions, sess)
			s.mu.Unlock()
			if m := cs.leave(reason); m != nil {
				setConnReason(sess.Context(), m.Reason().String())
				// The screen has restored the terminal; this line stays.
				fmt.Fprintf(sess, "chatd: you left the room (%s)\r\n", m.Reason())
			}
			status := 0
			if err := cs.refused(); err != nil {
				s.tellRefused(sess, err)
				status = 1
			}
			// Send the exit status now rather than after the handler
			// returns: once the session has ended, Shutdown closes the
			// connection.
			_ = sess.Exit(status)
			s.life.EndSession()
		}()
		next(sess)
	}
}

// runScreen runs the chat screen for a session until it quits, then gives
// the terminal back. The client's keys and window changes go to the screen,
// and the screen quits when the session ends.
func (s *Server) runScreen(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		scr := s.newScreen(sess)
		if scr == nil {
			next(sess)
			return
		}
		ctx, cancel := context.WithCancel(sess.Context())
		// Both end by themselves once the program has ended: the keys when
		// the session's input does, which it does when the session closes.
		go scr.keys.run(ctx, scr.program.Send)
		go followWindow(ctx, scr.windows, scr.program.Send, scr.program.Quit)
		scr.screen.Start()
		switch _, err := scr.program.Run(); {
		case errors.Is(err, tea.ErrProgramPanic): // a bug of ours, which must not pass for a normal end
			s.log.Error("ssh screen crashed", "user", boundedUser(sess.User()), "remote", sess.RemoteAddr().String(), "err", err)
		case err != nil && !errors.Is(err, tea.ErrProgramKilled):
			s.log.Debug("ssh screen ended with an error", "user", boundedUser(sess.User()), "err", err)
		}
		scr.screen.Close()
		cancel()
		next(sess)
	}
}

// followWindow resizes the screen (send) to the latest window size the
// client reported, at most once per resizeEvery, and quits the program
// (quit) when ctx is done.
func followWindow(ctx context.Context, windows *windowFeed, send func(tea.Msg), quit func()) {
	for {
		select {
		case <-ctx.Done():
			quit()
			return
		case <-windows.changed:
			if w, ok := windows.take(); ok {
				send(tea.WindowSizeMsg{Width: w.Width, Height: w.Height})
			}
		}
		// Changes meanwhile wait in the feed, which keeps the latest: a
		// window dragged or a client sending sizes in a loop costs at most
		// one redraw per resizeEvery.
		select {
		case <-ctx.Done():
		case <-time.After(resizeEvery):
		}
	}
}

// resizeEvery is the least time between two resizes of a screen.
const resizeEvery = 100 * time.Millisecond

// sessionScreen is a session's chat screen: the program, the frame writer
// that draws it, and what feeds it.
type sessionScreen struct {
	program *tea.Program
	screen  *tui.Framed
	keys    *keyInput
	windows *windowFeed
}

// newScreen builds the chat screen for a session. Bubble Tea runs the
// model, keyInput reads the keys, and tui.Framed draws the frames.
// It returns nil if there is to be no screen.
func (s *Server) newScreen(sess ssh.Session) *sessionScreen {
	s.mu.Lock()
	cs := s.sessions[sess]
	closing := s.life.Closing()
	s.mu.Unlock()
	if cs == nil || closing {
		return nil
	}
	opts := tui.Options{
		Join:    cs.join,
		OnLeave: func() { cs.leave(room.Reason{Kind: room.ReasonQuit}) },
		// Described when /crypto runs: a rekey since is reflected.
		Crypto: func() *tui.SSHCrypto { return s.sessionCrypto(sess) },
	}
	user := sess.User()
	if c, err := cs.join(user); err == nil {
		opts.Conn = c
	} else if errors.Is(err, room.ErrClosed) {
		fmt.Fprintln(sess.Stderr(), "chatd: the room is closed")
		return nil
	} else if finalJoinError(err) {
		return nil // trackSession tells why
	} else {
		if len(user) > 40 {
			user = user[:40] + "…"
		}
		opts.Problem = fmt.Sprintf("You cannot join as %q: %v", user, err)
	}

	var p *tea.Program
	keys := newKeyInput(sess, func() { p.Send(tui.ErrorMsg(pasteCutNotice)) }, func() { p.Quit() })
	// The output is guarded so that a client that stops reading is
	// disconnected, and colours are brought down to what the terminal
	// shows.
	out := newStallGuard(sess, s.cfg.WriteTimeout, func() {
		s.log.Info("ssh session not reading; closing it", "user", boundedUser(sess.User()), "remote", sess.RemoteAddr().String())
		cs.leave(room.Reason{Kind: room.ReasonSlowConsumer})
		closeConn(sess)
	})
	pty, _, _ := sess.Pty()
	windows := newWindowFeed()
	if sc := channelOf(sess); sc != nil {
		windows = sc.windows
	}
	// A window change that came before the shell started overrides the
	// size the terminal was opened with.
	if w, ok := windows.take(); ok {
		pty.Window = w
	}
	env := append(sess.Environ(), "TERM="+pty.Term)
	screen := tui.NewFramed(tui.New(opts), colorWriter(out, colorprofile.Env(env)), frameInterval)
	p = tea.NewProgram(screen,
		// Bubble Tea's own renderer keeps two cell buffers of the screen
		// and compares them cell by cell on every frame: most of a
		// session's memory and CPU. The frame writer does that job here.
		tea.WithoutRenderer(),
		// Without a renderer, Bubble Tea's frame ticker only flushes
		// output the model never queues; at its default of 60 a second
		// it would wake every session 60 times a second for nothing.
		tea.WithFPS(1),
		// No input reader of Bubble Tea's: keyInput reads the keys and
		// sends them (see keyInput for why).
		tea.WithInput(nil),
		tea.WithOutput(out),
		tea.WithEnvironment(env),
		// The client's terminal size sizes the screen: a client must not
		// be able to ask for gigabytes.
		tea.WithWindowSize(min(pty.Window.Width, maxColumns), min(pty.Window.Height, maxRows)),
		tea.WithFilter(sessionFilter),
		// The server's context, so that a Shutdown out of time can kill
		// the programs.
		tea.WithContext(s.kill),
		// The process's SIGINT and SIGTERM belong to the server, not to
		// each session.
		tea.WithoutSignalHandler(),
	)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.life.Closing() {
		return nil // Shutdown did not see this program; do not start it
	}
	cs.program = p
	return &sessionScreen{program: p, screen: screen, keys: keys, windows: windows}
}

// colorWriter brings the screen's 256 colours down to what a terminal with
// profile shows: 16 colours, or none.
func colorWriter(w io.Writer, profile colorprofile.Profile) io.Writer {
	if profile >= colorprofile.ANSI256 {
		return w
	}
	return &colorprofile.Writer{Forward: w, Profile: max(profile, colorprofile.ASCII)}
}

// The largest screen a session gets, whatever size its terminal claims.
const (
	maxColumns = 500
	maxRows    = 200
)

// sessionFilter clamps window sizes to maxColumns×maxRows and, as wish's
// filter does, turns a suspend into a resume: a remote session cannot be
// suspended.
func sessionFilter(_ tea.Model, msg tea.Msg) tea.Msg {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		msg.Width, msg.Height = min(msg.Width, maxColumns), min(msg.Height, maxRows)
		return msg
	case tea.SuspendMsg:
		return tea.ResumeMsg{}
	}
	return msg
}

// closeConn closes sess and its whole connection: closing the session
// alone would leave the connection's slot taken until the client hangs
// up, which a client that stopped reading may never do.
func closeConn(sess ssh.Session) {
	_ = sess.Close()
	if conn, ok := sess.Context().Value(ssh.ContextKeyConn).(gossh.Conn); ok {
		_ = conn.Close()
	}
}
