package sshgw

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"charm.land/ssh"

	"chatd/proto"
)

// command is what an exec request ("ssh host COMMAND") asks for.
type command int

const (
	commandUnknown command = iota // anything else: the console's, or refused
	commandWho                    // "who": the member list
	commandHelp                   // "help": the commands
	commandCrypto                 // "crypto": the session's crypto, as /crypto shows it
)

// commands are the exec commands chatd answers, by name, in the order
// help lists them.
var commands = []struct {
	name string
	cmd  command
	help string
}{
	{"who", commandWho, "list the members of the room"},
	{"crypto", commandCrypto, "this connection's key exchange, cipher, MAC, host key and your key"},
	{"help", commandHelp, "this list"},
}

// parseCommand names the command in an exec request's text, which the
// client chose: only an exact name, give or take surrounding spaces, is a
// command. The text is never kept.
func parseCommand(text string) command {
	text = strings.TrimSpace(text)
	for _, c := range commands {
		if text == c.name {
			return c.cmd
		}
	}
	return commandUnknown
}

// emptyRoomText is what "who" prints when nobody is in the room.
const emptyRoomText = "*** 0 members\n"

// maxEchoedCommand bounds how much of an unknown command a refusal repeats.
const maxEchoedCommand = 32

// serveCommands answers the sessions that do not open the chat screen, before
// anything joins the room or starts a program: an exec request runs one of
// the commands (see runCommand), with or without a terminal; a shell
// without a terminal ("ssh -T host") is refused with the command that
// opens the chat and exit status 1. Everything else, a shell on a terminal,
// goes on to the chat screen.
func (s *Server) serveCommands(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		_, _, pty := sess.Pty()
		switch text := sess.RawCommand(); {
		case strings.TrimSpace(text) != "":
			s.runCommand(sess, text)
		case !pty:
			setConnReason(sess.Context(), "no terminal")
			fmt.Fprintf(s.guarded(sess, messages(sess)), "chatd: this is a chat room; connect with a terminal: %s\n", s.hint(sess))
			_ = sess.Exit(1)
		default:
			next(sess)
		}
	}
}

// runCommand runs an exec request's command and ends the session with its
// exit status: 0 for who, crypto and help; any other command goes to the
// console (Config.Console, see runConsole) if there is one; a command
// the console does not have either is refused, with exit status 1, with the list of commands and the
// command that opens the chat. Nothing joins the room or is announced.
func (s *Server) runCommand(sess ssh.Session, text string) {
	cmd := parseCommand(text)
	s.log.Debug("ssh command", "user", boundedUser(sess.User()), "remote", sess.RemoteAddr().String(), "command", echoCommand(text))
	switch {
	case cmd == commandWho:
		setConnReason(sess.Context(), "who")
		_, _ = s.guarded(sess, sess).Write(s.whoText())
		_ = sess.Exit(0)
	case cmd == commandCrypto:
		setConnReason(sess.Context(), "crypto")
		_, _ = io.WriteString(s.guarded(sess, sess), s.cryptoText(sess))
		_ = sess.Exit(0)
	case cmd == commandHelp:
		setConnReason(sess.Context(), "help")
		_, _ = io.WriteString(s.guarded(sess, sess), s.helpText(sess))
		_ = sess.Exit(0)
	case s.cfg.Console != nil:
		s.runConsole(sess, text)
	default:
		s.refuseUnknown(sess, text)
	}
}

// refuseUnknown ends the session of a command chatd does not have, with
// exit status 1, the list of commands and the command that opens the
// chat.
func (s *Server) refuseUnknown(sess ssh.Session, text string) {
	setConnReason(sess.Context(), "unknown command")
	fmt.Fprintf(s.guarded(sess, messages(sess)), "chatd: there is no command %s here; the commands are %s.\n"+
		"chatd: this is a chat room; connect with a terminal: %s\n", echoCommand(text), commandNames(), s.hint(sess))
	_ = sess.Exit(1)
}

// whoText is the member list as "who" prints it: the line a TLS client
// gets for /who, without the time; "*** 0 members" in an empty room.
func (s *Server) whoText() []byte {
	ev := *s.cfg.Room.Who()
	if ev.Count == 0 {
		return []byte(emptyRoomText)
	}
	ev.Time = time.Time{}
	return proto.AppendEvent(nil, &ev)
}

// cryptoText is what "crypto" prints: the lines /crypto shows on the
// screen.
func (s *Server) cryptoText(sess ssh.Session) string {
	c := s.sessionCrypto(sess)
	if c == nil {
		return "chatd: this connection does not say what it negotiated\n"
	}
	return strings.Join(c.Lines(), "\n") + "\n"
}

// helpText is what "help" prints: chatd's own commands, then, with a
// console, the console's help for this session (an operator's: a
// non-operator's console answers permission denied, and is shown none).
func (s *Server) helpText(sess ssh.Session) string {
	var b strings.Builder
	b.WriteString("chatd is a chat room. Commands that do not join it:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-6s %s\n", c.name, c.help)
	}
	if admin := ownLinesOnly(s.consoleHelp(sess)); len(admin) > 0 {
		b.WriteString("Admin commands (you are one of the room's owners or operators):\n")
		for _, line := range admin {
			fmt.Fprintf(&b, "  %s\n", line)
		}
	}
	fmt.Fprintf(&b, "To chat, connect with a terminal: %s\n", s.hint(sess))
	return b.String()
}

// ownLinesOnly drops the console's help lines of commands that chatd
// answers itself (who, crypto, help), which the list above has already.
func ownLinesOnly(lines []string) []string {
	var out []string
	for _, line := range lines {
		name, _, _ := strings.Cut(line, " ")
		if parseCommand(name) == commandUnknown {
			out = append(out, line)
		}
	}
	return out
}

// commandNames lists the commands' names for a refusal: "who, crypto and
// help".
func commandNames() string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// echoCommand is an unknown command as a refusal repeats it: at most
// maxEchoedCommand bytes of it, quoted in ASCII (Go syntax) so that no
// byte of it reaches the terminal as it is.
func echoCommand(text string) string {
	cut := len(text) > maxEchoedCommand
	if cut {
		text = text[:maxEchoedCommand]
	}
	quoted := strconv.QuoteToASCII(text)
	if cut {
		quoted += "..."
	}
	return quoted
}

// messages is where a session's explanations go: standard error, or, on a
// terminal, the session itself, whose line endings charm turns into CRLF
// as a terminal needs.
func messages(sess ssh.Session) io.Writer {
	if _, _, pty := sess.Pty(); pty {
		return sess
	}
	return sess.Stderr()
}

// guarded is w, one of sess's outputs, with the screen's stall guard: a
// client that opens no window for what a command prints (SSH flow
// control would hold the write, and the session, until it hangs up) is
// disconnected after the write timeout.
func (s *Server) guarded(sess ssh.Session, w io.Writer) io.Writer {
	return newStallGuard(w, s.cfg.WriteTimeout, func() {
		s.log.Info("ssh command output not read; closing the connection", "user", boundedUser(sess.User()), "remote", sess.RemoteAddr().String())
		closeConn(sess)
	})
}

// hint is the command that opens the chat, for this session.
func (s *Server) hint(sess ssh.Session) string {
	return connectHint(sess.User(), sess.LocalAddr(), s.cfg.Hosts)
}
