package room

import (
	"fmt"
	"slices"
	"strings"
)

// Command is one entry of the room's command registry. The registry is the
// single source of /help and of the command list in the docs.
type Command struct {
	Name    string   // how it is typed, with its slash: "/nick"
	Aliases []string // other spellings, such as the seed's "!users"
	Args    string   // its arguments, for usage lines: "NEW"
	Help    string   // what it does, in one line
	run     func(r *Room, m *Member, args string)
}

// Usage returns how the command is typed, such as "/msg NICK TEXT".
func (c Command) Usage() string {
	if c.Args == "" {
		return c.Name
	}
	return c.Name + " " + c.Args
}

// LiteralSlashHelp explains how to send a message that starts with "/".
const LiteralSlashHelp = "Start a line with // to send a message that begins with /."

var registry []Command

func init() {
	registry = []Command{
		{Name: "/nick", Args: "NEW", Help: "Change your nickname.", run: runNick},
		{Name: "/me", Args: "ACTION", Help: `Say what you are doing, shown as "* nick ACTION".`, run: runMe},
		{Name: "/msg", Args: "NICK TEXT", Help: "Send TEXT to NICK only.", run: runMsg},
		{Name: "/who", Aliases: []string{"!users"}, Help: "List the members of the room.", run: runWho},
		{Name: "/help", Help: "Show this list of commands.", run: runHelp},
		{Name: "/quit", Aliases: []string{"!exit"}, Args: "[REASON]", Help: "Leave the room.", run: runQuit},
	}
}

// Commands returns the command registry, in the order /help shows it.
func Commands() []Command {
	out := make([]Command, len(registry))
	copy(out, registry)
	return out
}

// lookupCommand splits a line into a command and its arguments. isCommand
// reports whether the line is meant as a command at all; cmd is nil if it is
// one nobody knows. Lines starting with "!" are commands only when they are
// one of the aliases, so "!!!" stays an ordinary message.
func lookupCommand(line string) (cmd *Command, args string, isCommand bool) {
	if !strings.HasPrefix(line, "/") && !strings.HasPrefix(line, "!") || strings.HasPrefix(line, "//") {
		return nil, "", false
	}
	name, args, _ := strings.Cut(line, " ")
	name = strings.ToLower(name)
	for i := range registry {
		c := &registry[i]
		if c.Name == name || slices.Contains(c.Aliases, name) {
			return c, strings.TrimSpace(args), true
		}
	}
	return nil, "", strings.HasPrefix(line, "/")
}

func usageError(r *Room, m *Member, name string) {
	r.counts.rejected[RejectCommand]++
	for _, c := range registry {
		if c.Name == name {
			r.tellError(m, "usage: "+c.Usage())
			return
		}
	}
}

func runNick(r *Room, m *Member, args string) {
	if args == "" {
		usageError(r, m, "/nick")
		return
	}
	if err := ValidateNick(args); err != nil {
		r.tellError(m, err.Error())
		return
	}
	if err := r.nickFree(args, m.id, m); err != nil {
		r.tellError(m, err.Error())
		return
	}
	if args == m.nick {
		r.tellError(m, fmt.Sprintf("you are already %s", args))
		return
	}
	if !m.nicks.AllowN(r.cfg.Now(), 1) {
		r.tellError(m, fmt.Sprintf("too many nickname changes; you may change it %d times at once, then once every %s", r.cfg.NickBurst, r.cfg.NickEvery))
		return
	}
	old := m.nick
	r.unindex(m)
	m.nick = args
	r.held.release(nickKey(args))
	r.index(m)
	r.broadcast(&Event{Kind: NickChange, From: old, To: args}, nil)
}

func runMe(r *Room, m *Member, args string) {
	if args == "" {
		usageError(r, m, "/me")
		return
	}
	r.broadcast(&Event{Kind: Action, From: m.nick, Text: args}, m)
}

func runMsg(r *Room, m *Member, args string) {
	nick, text, _ := strings.Cut(args, " ")
	text = strings.TrimSpace(text)
	if nick == "" || text == "" {
		usageError(r, m, "/msg")
		return
	}
	target := r.byNick[nickKey(nick)]
	if target == nil {
		r.tellError(m, fmt.Sprintf("no one called %q is here; /who lists the members", nick))
		return
	}
	if !r.allowPrivate(target, m.id) {
		r.counts.rejected[RejectPrivate]++
		r.tellError(m, fmt.Sprintf("%s is receiving too many private messages; yours was not delivered, try again later", target.nick))
		return
	}
	private := &Event{Kind: Private, From: m.nick, To: target.nick, Text: text}
	if !r.tell(target, private) {
		r.tellError(m, fmt.Sprintf("%s is not keeping up with the room; your message was not delivered", target.nick))
		return
	}
	r.countMessage(private)
	r.tell(m, &Event{Kind: PrivateSent, From: m.nick, To: target.nick, Text: text})
}

func runWho(r *Room, m *Member, _ string) {
	r.tell(m, r.membersEvent())
}

func runHelp(r *Room, m *Member, _ string) {
	for _, c := range registry {
		text := fmt.Sprintf("%-16s %s", c.Usage(), c.Help)
		if len(c.Aliases) > 0 {
			text += " (also " + strings.Join(c.Aliases, ", ") + ")"
		}
		r.tell(m, &Event{Kind: Notice, Text: text})
	}
	r.tell(m, &Event{Kind: Notice, Text: LiteralSlashHelp})
}

func runQuit(r *Room, m *Member, args string) {
	reason := ReasonQuit
	if args != "" {
		reason += ": " + args
	}
	r.remove(m, reason)
}
