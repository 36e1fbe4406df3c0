package room

import (
	"errors"
	"strings"
)

// This file is the slash-line layer: a typed line becomes one of the
// member's operations or a registered command, and an operation's error
// becomes the Error event the member is shown.

// Send handles one line the member typed: a command if it starts with "/"
// (or is one of the seed's "!" aliases), otherwise a chat message to everyone.
// A line starting with "//" is sent as chat with one "/" removed. The text is
// cleaned of anything that could drive a terminal; empty lines are ignored.
// Problems are reported to the member as Error events.
//
// Lines typed faster than flood control allows wait their turn and go out
// at the flood rate, in order (see Config.FloodQueue); the member is told
// once how many wait. Lines exempt from flood control run at once, ahead
// of them, but for /quit (a command that Leaves), which takes its turn
// after them, with a notice; a second /quit runs at once. A line that does
// not fit in the queue is dropped, and the member told once how many were;
// a member that keeps its queue full is disconnected (Config.FloodKick).
func (m *Member) Send(line string) {
	r := m.room
	var l typedLine
	if len(line) > r.cfg.MaxLineBytes {
		l.tooLong = len(line)
	} else if l.text = cleanLine(line); len(l.text) > r.cfg.MaxLineBytes {
		l.text, l.tooLong, l.cleaned = "", len(l.text), true // cleaning made it longer
	} else if strings.TrimSpace(l.text) == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pace(m, l) {
		r.runLine(m, l)
	}
}

// runLine runs a line m typed that flood control let through: a chat
// message, a command, or the refusal of a line too long. The caller holds
// r.mu, which runLine releases while a command's handler runs.
func (r *Room) runLine(m *Member, l typedLine) {
	if l.tooLong > 0 {
		r.explain(m, r.tooLong(m, l.tooLong, l.cleaned))
		m.paid = false
		return
	}
	cmd, args, isCommand := r.cmds.lookup(l.text)
	if cmd == nil {
		r.explain(m, r.chat(m, l.text, isCommand))
		m.paid = false
		return
	}
	err := r.admitCommand(m, cmd)
	run, usage := cmd.Handler, cmd.Usage()
	r.mu.Unlock()
	if err == nil {
		err = run(m, args)
	}
	r.mu.Lock()
	m.paid = false
	if errors.Is(err, ErrUsage) {
		r.counts.rejected[RejectCommand]++
		err = usageError(usage, err)
	}
	r.explain(m, err)
}

// usageError is a command's usage error, err (wrapping ErrUsage),
// worded for the member: "usage: " and the command's usage, then what the
// handler said was wrong, if its error says more than ErrUsage does
// ("usage: /ban NICK [DURATION] [REASON]: a duration from 1s to 365d").
func usageError(usage string, err error) error {
	detail := strings.TrimPrefix(err.Error(), ErrUsage.Error())
	detail = strings.TrimSpace(strings.TrimPrefix(detail, ":"))
	if detail == "" {
		return refuse(ErrUsage, "usage: %s", usage)
	}
	return refuse(ErrUsage, "usage: %s: %s", usage, detail)
}

// chat sends a cleaned line that runs no registered command: chat, or, if
// isCommand, a command nobody knows. The caller holds r.mu.
func (r *Room) chat(m *Member, line string, isCommand bool) error {
	if err := r.startOp(m, false); err != nil {
		return err
	}
	if isCommand {
		name, _, _ := strings.Cut(line, " ")
		r.counts.rejected[RejectCommand]++
		return refuse(ErrUnknownCommand, "unknown command %q; /help lists the commands", name)
	}
	if err := r.refuseMuted(m); err != nil {
		return err
	}
	if err := r.refuseReadOnly(); err != nil {
		return err
	}
	r.say(m, strings.TrimPrefix(line, "/"))
	return nil
}

// admitCommand admits a line that runs cmd: m is present, the line passed
// flood control (pace) unless cmd is exempt, and m may run cmd. The line's
// admission then covers the first operation cmd's handler performs, unless
// cmd is exempt: an exempt line pays nothing, so it covers nothing (Quit,
// which /quit runs, is exempt itself). The caller holds r.mu.
func (r *Room) admitCommand(m *Member, cmd *Command) error {
	if err := r.startOp(m, cmd.ExemptFromFlood); err != nil {
		return err
	}
	if cmd.OperatorOnly && !m.operator() {
		r.counts.rejected[RejectCommand]++
		return refuse(ErrOperatorOnly, "permission denied: %s is for the room's operators only", cmd.Name)
	}
	m.paid = !cmd.ExemptFromFlood
	return nil
}

// operator reports whether m is one of the room's operators, who may run
// OperatorOnly commands (Config.Policy).
func (m *Member) operator() bool {
	return m.room.cfg.Policy != nil && m.room.cfg.Policy.Operator(m.id)
}

// explain tells m why the room refused its line, if m should be told: not
// for the second and later lines of a flood, nor once m has left, nor
// while the room is closing (its Bye says so). The explanation is
// delivered in the room's order (see reply). The caller holds r.mu.
func (r *Room) explain(m *Member, err error) {
	var flood *FloodError
	if err == nil || errors.Is(err, ErrNotInRoom) || errors.Is(err, ErrClosed) || errors.As(err, &flood) && (flood.Dropped > 1 || flood.Disconnected) {
		return
	}
	ev := &Event{Kind: Error, Text: err.Error()}
	if errors.Is(err, ErrReadOnly) {
		ev.Store = StoreReadOnly
	}
	r.reply(m, ev)
}

// tellError tells m an Error event at once, if m is still present: for
// the sequencer's outcomes, which it applies in the room's order already
// (operations' errors go through reply). The caller holds r.mu.
func (r *Room) tellError(m *Member, text string) {
	if _, present := r.members[m]; present {
		r.tell(m, &Event{Kind: Error, Text: text})
	}
}

// EchoOf returns what a line typed by nick shows its sender when the room
// accepts it as chat or an action, for clients whose server does not echo:
// the same cleaning and command rules as Send, with the built-in commands
// (see Command.Echo). It returns nil for other commands, empty lines and
// lines over maxBytes (0: DefaultMaxLineBytes).
func EchoOf(nick, line string, maxBytes int) *Event {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxLineBytes
	}
	if len(line) > maxBytes {
		return nil
	}
	line = cleanLine(line)
	if strings.TrimSpace(line) == "" {
		return nil
	}
	cmd, args, isCommand := builtins.lookup(line)
	switch {
	case cmd != nil && cmd.Echo != 0 && args != "":
		return &Event{Kind: cmd.Echo, From: nick, Text: args}
	case isCommand:
		return nil
	}
	return &Event{Kind: Chat, From: nick, Text: strings.TrimPrefix(line, "/")}
}
