package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/x/vt"
	"golang.org/x/crypto/ssh"
)

// SSH session settings: what a person's terminal would ask for.
const (
	sshTerm       = "xterm-256color"
	sshReadBuffer = 8 << 10
)

// newSSHDialer returns the dialer for SSH sessions. Every session
// authenticates as its nickname with one throwaway key, and offers an
// empty password and keyboard-interactive answers as well, since chatd's
// SSH server lets anyone in.
func newSSHDialer(cfg *config) (dialFunc, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate an SSH client key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("generate an SSH client key: %w", err)
	}
	hostKey := ssh.InsecureIgnoreHostKey()
	if want := cfg.sshHostKey; want != "" {
		hostKey = func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if got := ssh.FingerprintSHA256(key); got != want {
				return fmt.Errorf("SSH host key %s is not the expected %s", got, want)
			}
			return nil
		}
	}
	auth := []ssh.AuthMethod{
		ssh.PublicKeys(signer),
		ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
			return make([]string, len(questions)), nil
		}),
		ssh.Password(""),
	}
	return func(ctx context.Context, b *bench, m *member) (conn, error) {
		sc := &ssh.ClientConfig{User: m.nick, Auth: auth, HostKeyCallback: hostKey}
		return dialSSH(ctx, b, m, sc)
	}, nil
}

// sshConn is one SSH session on a PTY, with the terminal emulator that
// shows what its screen would.
type sshConn struct {
	client  *ssh.Client
	stdout  io.Reader
	emu     *vt.Emulator
	replies io.Closer // the emulator's answers to the server's queries

	inputMu sync.Mutex
	stdin   io.Writer
	line    []byte // send's buffer, under inputMu

	seen map[int]int64 // highest sequence number seen per sender
}

// dialSSH opens m's session, waits until its screen shows that it joined,
// and starts its reader.
func dialSSH(ctx context.Context, b *bench, m *member, sc *ssh.ClientConfig) (conn, error) {
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		raw.SetDeadline(deadline)
	}
	stopCancel := context.AfterFunc(ctx, func() { raw.Close() })
	defer stopCancel()
	c, err := openSession(raw, m.addr, b.cfg, sc)
	if err != nil {
		raw.Close()
		return nil, err
	}
	// From here on a real terminal answers the server's queries (cursor
	// position, colors, modes); without a reader the emulator would block.
	b.readers.Go(c.forwardReplies)
	if err := c.waitJoined(b.cfg.sshJoinText(m.nick)); err != nil {
		c.close()
		return nil, err
	}
	if !stopCancel() {
		c.close()
		return nil, ctx.Err()
	}
	raw.SetDeadline(time.Time{})
	b.readers.Go(func() { b.readScreen(m, c) })
	return c, nil
}

// openSession does the SSH handshake on raw and starts a shell on a PTY.
func openSession(raw net.Conn, addr string, cfg *config, sc *ssh.ClientConfig) (*sshConn, error) {
	cc, chans, reqs, err := ssh.NewClientConn(raw, addr, sc)
	if err != nil {
		return nil, fmt.Errorf("SSH handshake: %w", err)
	}
	client := ssh.NewClient(cc, chans, reqs)
	sess, err := client.NewSession()
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("open an SSH session: %w", err)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("SSH session input: %w", err)
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("SSH session output: %w", err)
	}
	if err := sess.RequestPty(sshTerm, cfg.rows, cfg.cols, ssh.TerminalModes{}); err != nil {
		client.Close()
		return nil, fmt.Errorf("request a PTY: %w", err)
	}
	if err := sess.Shell(); err != nil {
		client.Close()
		return nil, fmt.Errorf("start the SSH shell: %w", err)
	}
	emu := vt.NewEmulator(cfg.cols, cfg.rows)
	// Only the screen is read; the default scrollback would keep up to
	// 10,000 lines per session (and shift them all on every new one).
	emu.SetScrollbackSize(1)
	replies, ok := emu.InputPipe().(io.Closer)
	if !ok {
		client.Close()
		return nil, fmt.Errorf("the terminal emulator's input cannot be closed")
	}
	return &sshConn{client: client, stdout: stdout, stdin: stdin, emu: emu, replies: replies, seen: make(map[int]int64)}, nil
}

// sshJoinText is what m's screen shows once it has joined; "" means any
// output.
func (c *config) sshJoinText(nick string) string {
	if strings.Contains(c.sshJoin, "%s") {
		return fmt.Sprintf(c.sshJoin, nick)
	}
	return c.sshJoin
}

// waitJoined feeds output to the screen until it shows want.
func (c *sshConn) waitJoined(want string) error {
	buf := make([]byte, sshReadBuffer)
	for {
		n, err := c.stdout.Read(buf)
		if n > 0 {
			c.emu.Write(buf[:n])
			if want == "" || screenHas(c.emu.String(), want) {
				return nil
			}
		}
		if err != nil {
			return fmt.Errorf("wait for the screen to show %q: %w", want, err)
		}
	}
}

// screenHas reports whether screen holds want not preceded by a character
// that could continue a nickname (so "bench1 joined" is not found in
// "bench11 joined").
func screenHas(screen, want string) bool {
	for i := 0; ; {
		j := strings.Index(screen[i:], want)
		if j < 0 {
			return false
		}
		at := i + j
		if at == 0 || !isNickByte(screen[at-1]) {
			return true
		}
		i = at + 1
	}
}

func isNickByte(c byte) bool { return isWordByte(c) || c == '-' }

// readScreen feeds m's output to its screen and, in the measured phase,
// scans the screen for new payloads after every read.
func (b *bench) readScreen(m *member, c *sshConn) {
	buf := make([]byte, sshReadBuffer)
	for {
		n, err := c.stdout.Read(buf)
		if n > 0 {
			c.emu.Write(buf[:n])
			if b.counting.Load() {
				b.scanScreen(m, c, []byte(c.emu.String()), time.Now())
			}
		}
		if err != nil {
			b.lose(m, err)
			return
		}
	}
}

// scanScreen delivers each payload on the screen that is newer than the
// last one seen from its sender. A payload still being drawn (cut short)
// carries an implausible time and is left for a later scan.
func (b *bench) scanScreen(m *member, c *sshConn, screen []byte, now time.Time) {
	for {
		p, rest, ok := nextPayload(screen, b.marker)
		if !ok {
			return
		}
		screen = rest
		if !b.plausible(p, now) || p.seq <= c.seen[p.from] {
			continue
		}
		c.seen[p.from] = p.seq
		b.deliver(m, p, now)
	}
}

// forwardReplies passes the emulator's answers to the server, as a
// terminal would, until the emulator's input is closed.
func (c *sshConn) forwardReplies() {
	buf := make([]byte, 1024)
	for {
		n, err := c.emu.Read(buf)
		if n > 0 {
			c.write(buf[:n]) // after close, answers are dropped
		}
		if err != nil {
			return
		}
	}
}

// send types text and presses Enter.
func (c *sshConn) send(text []byte) error {
	c.inputMu.Lock()
	defer c.inputMu.Unlock()
	c.line = append(append(c.line[:0], text...), '\r')
	_, err := c.stdin.Write(c.line)
	return err
}

func (c *sshConn) write(b []byte) error {
	c.inputMu.Lock()
	defer c.inputMu.Unlock()
	_, err := c.stdin.Write(b)
	return err
}

// close ends the session, then the reply forwarder.
func (c *sshConn) close() {
	c.client.Close()
	c.replies.Close()
}
