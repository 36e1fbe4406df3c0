package room

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Command is one entry of a room's command registry: what a member can run
// by typing a line that starts with its name. The registry is the single
// source of /help and of the command list in the docs.
type Command struct {
	Name    string   // how it is typed, with its slash: "/nick"
	Aliases []string // other spellings, such as the seed's "!users"
	Args    string   // its arguments, for usage lines: "NEW"
	Help    string   // what it does, in one line
	// Handler carries the command out for m; args are the rest of the line,
	// cleaned and trimmed. It is called without the room's lock held, and
	// typically calls m's operations (Say, Rename, Quit...). The line has
	// passed m's flood control already, and that covers the first
	// operation Handler performs; further ones are charged. A line exempt
	// from flood control paid nothing and covers nothing: all its
	// operations are charged, save those exempt themselves (Quit). An
	// error wrapping ErrUsage is reported to m as the command's usage,
	// followed by what the error says beyond ErrUsage, if anything
	// (fmt.Errorf("%w: a duration from 1s to 365d", ErrUsage) is "usage:
	// /ban ARGS: a duration from 1s to 365d"); any other error is
	// reported in its own words, as Send reports the operations' errors.
	Handler func(m *Member, args string) error
	// ExemptFromFlood lets the command's line through flood control, so
	// that a member that is being held back can still run it (/quit). Its
	// handler's operations are charged as usual, save those exempt
	// themselves (Quit): an exempt command cannot be used to chat.
	ExemptFromFlood bool
	// Echo is the kind of event (Chat or Action) that running the command
	// shows its sender, for EchoOf: a client whose server does not echo
	// shows /me as an action. Zero for commands that show nothing.
	Echo Kind
	// Leaves says that running the command takes the member out of the
	// room (/quit): a client does not reconnect after it.
	Leaves bool
	// OperatorOnly keeps the command for the room's operators; anyone else
	// who runs it is refused with ErrOperatorOnly.
	OperatorOnly bool
	// visitor is what the command does for someone who has not joined
	// (see LookupVisitorCommand); only built-in commands set it.
	visitor VisitorCommand
}

// Usage returns how the command is typed, such as "/msg NICK TEXT".
func (c Command) Usage() string {
	if c.Args == "" {
		return c.Name
	}
	return c.Name + " " + c.Args
}

// clone returns c with slices of its own.
func (c Command) clone() Command {
	c.Aliases = slices.Clone(c.Aliases)
	return c
}

// CryptoCommand describes a member's own connection (JoinOptions.Describe);
// /tls is its alias. Front ends that know more of the connection than the
// server does (the bundled client, an SSH screen) answer it themselves.
const CryptoCommand = "/crypto"

// LiteralSlashHelp explains how to send a message that starts with "/".
const LiteralSlashHelp = "Start a line with // to send a message that begins with /."

// ErrBadCommand is wrapped by Register's errors about a command that cannot
// be registered.
var ErrBadCommand = errors.New("cannot register command")

// registry is a room's commands, in the order /help lists them. A room's
// registry is guarded by Room.mu; the built-in one is never changed.
type registry struct {
	list []Command
}

// builtins are the commands every room starts with; Commands, LookupCommand
// and EchoOf use them.
var builtins = builtinRegistry()

// builtinRegistry returns the commands a new room has.
func builtinRegistry() registry {
	return registry{list: []Command{
		{Name: "/nick", Args: "NEW", Help: "Change your nickname.", Handler: runNick},
		{Name: "/me", Args: "ACTION", Help: `Say what you are doing, shown as "* nick ACTION".`, Handler: runMe, Echo: Action},
		{Name: "/msg", Args: "NICK TEXT", Help: "Send TEXT to NICK only.", Handler: runMsg},
		{Name: "/who", Aliases: []string{"!users"}, Help: "List the members of the room.", Handler: runWho, visitor: VisitorWho},
		{Name: "/help", Help: "Show this list of commands.", Handler: runHelp},
		{Name: CryptoCommand, Aliases: []string{"/tls"}, Help: "Show your connection's crypto: protocol, cipher, keys and fingerprints.", Handler: runCrypto,
			visitor: VisitorDescribe},
		{Name: "/quit", Aliases: []string{"!exit"}, Args: "[REASON]", Help: "Leave the room.", Handler: runQuit,
			ExemptFromFlood: true, Leaves: true, visitor: VisitorQuit},
	}}
}

// Commands returns the built-in commands, the ones every room starts with,
// in the order /help shows them.
func Commands() []Command { return builtins.commands() }

// LookupCommand finds the built-in command a typed line runs, and the
// arguments it gets, as Send would in a room that registered no more
// commands. found is false for lines that run no command.
func LookupCommand(line string) (cmd Command, args string, found bool) {
	c, args, _ := builtins.lookup(cleanLine(line))
	if c == nil {
		return Command{}, "", false
	}
	return c.clone(), args, true
}

// VisitorCommand is what a command typed before joining does: at a
// gateway's nickname prompt, by someone connected who is no member yet.
type VisitorCommand uint8

const (
	// VisitorRefused: the command needs a member; the visitor is told to
	// choose a nickname first (VisitorRefusal).
	VisitorRefused VisitorCommand = iota
	// VisitorWho (/who, !users): the member list (Room.Who), without
	// joining or announcing anything.
	VisitorWho
	// VisitorQuit (/quit, !exit): the visitor leaves without joining.
	VisitorQuit
	// VisitorDescribe (/crypto, /tls): the gateway describes the visitor's
	// connection, as it would a member's (JoinOptions.Describe).
	VisitorDescribe
)

// VisitorRefusal is the error text for a command a visitor may not run.
const VisitorRefusal = "choose a nickname first: before you join, /who lists the members, /crypto describes your connection and /quit leaves"

// LookupVisitorCommand tells whether a line typed before joining is a
// command (found; any other line is a nickname to try), and what it does
// for a visitor. The line is read as Send would read it.
func LookupVisitorCommand(line string) (v VisitorCommand, found bool) {
	cmd, _, isCommand := builtins.lookup(cleanLine(line))
	if cmd != nil {
		return cmd.visitor, true
	}
	return VisitorRefused, isCommand
}

// Commands returns the room's commands, built-in and registered, in the
// order /help shows them.
func (r *Room) Commands() []Command {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cmds.commands()
}

// MaxCommands bounds a room's commands, built-in ones included, so that
// /help fits in a member's outbox with room to spare.
const MaxCommands = 64

// Register adds a command to the room, after the built-in ones. Its name
// must start with "/" and its aliases with "/" or "!", in lower case without
// spaces, and neither may be taken already; it needs a Handler, and the room
// has at most MaxCommands. Otherwise the error wraps ErrBadCommand.
func (r *Room) Register(c Command) error {
	if err := checkCommand(c); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cmds.list) >= MaxCommands {
		return fmt.Errorf("%w: a room has at most %d commands", ErrBadCommand, MaxCommands)
	}
	for _, name := range append([]string{c.Name}, c.Aliases...) {
		if r.cmds.find(name) != nil {
			return fmt.Errorf("%w: %s is taken", ErrBadCommand, name)
		}
	}
	r.cmds.list = append(r.cmds.list, c.clone())
	return nil
}

// checkCommand checks what Register requires of a command on its own.
func checkCommand(c Command) error {
	if c.Handler == nil {
		return fmt.Errorf("%w: %s has no handler", ErrBadCommand, c.Name)
	}
	if !validCommandName(c.Name, "/") {
		return fmt.Errorf("%w: bad name %q", ErrBadCommand, c.Name)
	}
	for _, alias := range c.Aliases {
		if !validCommandName(alias, "/") && !validCommandName(alias, "!") {
			return fmt.Errorf("%w: bad alias %q", ErrBadCommand, alias)
		}
	}
	if c.Echo != 0 && c.Echo != Chat && c.Echo != Action {
		return fmt.Errorf("%w: %s echoes %v, not chat or an action", ErrBadCommand, c.Name, c.Echo)
	}
	return nil
}

// validCommandName reports whether name is prefix and then at least one
// more character, none of them a space, upper case, a second prefix or
// anything Clean would change.
func validCommandName(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	return ok && rest != "" && !strings.HasPrefix(rest, prefix) && Clean(name) == name &&
		!strings.ContainsAny(name, " ") && strings.ToLower(name) == name
}

// commands returns a copy of the registry.
func (g *registry) commands() []Command {
	out := make([]Command, len(g.list))
	for i, c := range g.list {
		out[i] = c.clone()
	}
	return out
}

// find returns the command named or aliased name, or nil.
func (g *registry) find(name string) *Command {
	for i := range g.list {
		c := &g.list[i]
		if c.Name == name || slices.Contains(c.Aliases, name) {
			return c
		}
	}
	return nil
}

// lookup splits a cleaned line into a command and its arguments. isCommand
// reports whether the line is meant as a command at all; cmd is nil if it is
// one nobody knows. Lines starting with "!" are commands only when they are
// one of the aliases, so "!!!" stays an ordinary message; a line starting
// with "//" is chat.
func (g *registry) lookup(line string) (cmd *Command, args string, isCommand bool) {
	if !strings.HasPrefix(line, "/") && !strings.HasPrefix(line, "!") || strings.HasPrefix(line, "//") {
		return nil, "", false
	}
	name, args, _ := strings.Cut(line, " ")
	if c := g.find(strings.ToLower(name)); c != nil {
		return c, strings.TrimSpace(args), true
	}
	return nil, "", strings.HasPrefix(line, "/")
}

// helpLines is what /help shows: one notice per command, then how to send a
// line that starts with "/". The operators' commands are listed to
// operators only: to anyone else they only answer "permission denied".
func (g *registry) helpLines(operator bool) []string {
	lines := make([]string, 0, len(g.list)+1)
	for _, c := range g.list {
		if c.OperatorOnly && !operator {
			continue
		}
		text := fmt.Sprintf("%-16s %s", c.Usage(), c.Help)
		if len(c.Aliases) > 0 {
			text += " (also " + strings.Join(c.Aliases, ", ") + ")"
		}
		lines = append(lines, text)
	}
	return append(lines, LiteralSlashHelp)
}

// The built-in commands' handlers: each turns its arguments into one of the
// member's operations.

func runNick(m *Member, args string) error {
	if args == "" {
		return ErrUsage
	}
	return m.Rename(args)
}

func runMe(m *Member, args string) error {
	if args == "" {
		return ErrUsage
	}
	return m.Act(args)
}

func runMsg(m *Member, args string) error {
	nick, text, _ := strings.Cut(args, " ")
	text = strings.TrimSpace(text)
	if nick == "" || text == "" {
		return ErrUsage
	}
	return m.Whisper(nick, text)
}

func runWho(m *Member, _ string) error { return m.Who() }

func runHelp(m *Member, _ string) error { return m.Help() }

func runQuit(m *Member, args string) error { return m.Quit(args) }

func runCrypto(m *Member, _ string) error { return m.DescribeConnection() }
