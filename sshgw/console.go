package sshgw

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"charm.land/ssh"

	"chatd/access"
	"chatd/room"
)

// Bounds on what an exec request may ask of the console (Config.Console),
// and on what is printed of its answer.
const (
	// maxConsoleWords is the most words an admin command may have.
	maxConsoleWords = 16
	// maxConsoleBytes bounds an admin command's text, as the room bounds
	// a line.
	maxConsoleBytes = room.DefaultMaxLineBytes
	// consoleTimeout bounds how long one command may take.
	consoleTimeout = 10 * time.Second
	// maxConsoleLines and maxConsoleLineBytes bound what is printed of
	// the console's answer.
	maxConsoleLines     = 10000
	maxConsoleLineBytes = 4096
)

// Exit statuses of an admin command.
const (
	exitOK    = 0
	exitError = 1 // refused, or failed
	exitUsage = 2 // wrong arguments (room.ErrUsage)
)

// runConsole runs an exec request's text as an admin command: the
// console (Config.Console) is asked with its words and the session's
// identity, whose key is what authorises it. The answer's lines go to
// standard output, with exit status 0; an error is printed as "error: "
// and its words, with exit status 2 for a usage error and 1 otherwise.
func (s *Server) runConsole(sess ssh.Session, text string) {
	setConnReason(sess.Context(), "console")
	words, err := consoleWords(text)
	if err != nil {
		s.consoleFailed(sess, err)
		return
	}
	id := sessionIdentity(sess)
	ctx, cancel := context.WithTimeout(sess.Context(), consoleTimeout)
	defer cancel()
	out, err := s.cfg.Console.Run(ctx, id, words)
	s.log.Info("ssh console command", "user", boundedUser(sess.User()), "remote", sess.RemoteAddr().String(),
		"identity", id, "command", echoCommand(words[0]), "words", len(words), "ok", err == nil)
	if errors.Is(err, access.ErrUnknownCommand) {
		s.refuseUnknown(sess, text)
		return
	}
	if err != nil {
		s.consoleFailed(sess, err)
		return
	}
	w := s.guarded(sess, sess)
	for _, line := range printable(out) {
		if _, err := fmt.Fprintf(w, "%s\n", line); err != nil {
			break
		}
	}
	_ = sess.Exit(exitOK)
}

// errTooLong and errTooManyWords are the usage errors of a command over
// the console's bounds.
var (
	errTooLong      = fmt.Errorf("%w: a command is at most %d bytes long", room.ErrUsage, maxConsoleBytes)
	errTooManyWords = fmt.Errorf("%w: a command has at most %d words", room.ErrUsage, maxConsoleWords)
)

// errNoWords is the usage error of a command of white space only
// (serveCommands sends those to the screen; this is a backstop).
var errNoWords = fmt.Errorf("%w: no command", room.ErrUsage)

// consoleWords splits an exec request's text into the words of an admin
// command, within the console's bounds: at least one word.
func consoleWords(text string) ([]string, error) {
	if len(text) > maxConsoleBytes {
		return nil, errTooLong
	}
	words := strings.Fields(text)
	switch {
	case len(words) == 0:
		return nil, errNoWords
	case len(words) > maxConsoleWords:
		return nil, errTooManyWords
	}
	return words, nil
}

// consoleFailed ends a session whose admin command failed with err: its
// words after "error: ", and exit status 2 for a usage error, 1
// otherwise.
func (s *Server) consoleFailed(sess ssh.Session, err error) {
	status := exitError
	if errors.Is(err, room.ErrUsage) {
		status = exitUsage
	}
	fmt.Fprintf(s.guarded(sess, messages(sess)), "error: %s\n", printableLine(err.Error()))
	_ = sess.Exit(status)
}

// consoleHelp is the console's help for the session: its lines if the
// console answers "help" (it does for operators), else none.
func (s *Server) consoleHelp(sess ssh.Session) []string {
	if s.cfg.Console == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(sess.Context(), consoleTimeout)
	defer cancel()
	out, err := s.cfg.Console.Run(ctx, sessionIdentity(sess), []string{"help"})
	if err != nil {
		return nil
	}
	return printable(out)
}

// printable is the console's answer as it is printed: at most
// maxConsoleLines lines (then a line saying how many more there were),
// each made printable (printableLine).
func printable(lines []string) []string {
	n := min(len(lines), maxConsoleLines)
	out := make([]string, 0, n+1)
	for _, line := range lines[:n] {
		out = append(out, printableLine(line))
	}
	if more := len(lines) - n; more > 0 {
		out = append(out, fmt.Sprintf("… and %d more lines", more))
	}
	return out
}

// printableLine makes a line safe to print on the terminal of whoever ran
// the command: control characters (escape sequences' ESC among them, and
// line breaks) are dropped, tabs and spaces kept so that columns line up,
// invalid UTF-8 replaced; and the line is cut to maxConsoleLineBytes.
func printableLine(line string) string {
	if len(line) > maxConsoleLineBytes {
		cut := maxConsoleLineBytes
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		line = line[:cut] + "…"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return r
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, strings.ToValidUTF8(line, "\uFFFD"))
}
