package access

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"chatd/room"
)

// actor is who runs a command: a member of the room (slash commands) or
// an admin over SSH exec (Console).
type actor struct {
	id     room.Identity
	creds  []Credential
	name   string       // how announcements name it
	member *room.Member // nil over the console
	rank   rank
}

// command is one identity or moderation command, with its two front
// ends: a slash command in the room and a word over SSH exec.
type command struct {
	name    string // without the slash
	args    string
	help    string
	rank    rank // the least rank that may run it
	slash   bool // registered in the room
	console bool // run over SSH exec
	run     func(d *Directory, ctx context.Context, a *actor, args []string) ([]string, error)
}

// usage is how the command is typed, without the slash.
func (c *command) usage() string {
	if c.args == "" {
		return c.name
	}
	return c.name + " " + c.args
}

// commands are every identity and moderation command, in /help order.
var commands []*command

func init() { commands = commandList() }

// commandList returns the commands, in /help order.
func commandList() []*command {
	return []*command{
		{name: "register", args: "[link|CODE]", help: "Bind your nickname to the key or certificate you connected with; link: get a code, then /register CODE from a connection with another key or certificate to add it.", slash: true, run: (*Directory).register},
		{name: "unregister", args: "[NICK]", help: "Unbind your nickname (operators: NICK's) from its credentials.", slash: true, run: (*Directory).unregister},
		{name: "whois", args: "NICK", help: "Show NICK's credentials' fingerprints, role and presence.", slash: true, console: true, run: (*Directory).whois},
		{name: "op", args: "NICK", help: "Make registered NICK an operator.", rank: rankOperator, slash: true, console: true, run: (*Directory).op},
		{name: "deop", args: "NICK", help: "Take NICK's operator role away.", rank: rankOperator, slash: true, console: true, run: (*Directory).deop},
		{name: "kick", args: "NICK [REASON]", help: "Remove NICK from the room.", rank: rankOperator, slash: true, console: true, run: (*Directory).kick},
		{name: "ban", args: "NICK|fp=FINGERPRINT|ip=ADDR[/PREFIX] [DURATION] [REASON]", help: "Ban and remove; DURATION like 30m, 2h, 7d; IPv6 by /64 at the finest.", rank: rankOperator, slash: true, console: true, run: (*Directory).ban},
		{name: "unban", args: "NICK|fp=FINGERPRINT|ip=ADDR[/PREFIX]", help: "Lift a ban.", rank: rankOperator, slash: true, console: true, run: (*Directory).unban},
		{name: "banned", help: "List the bans.", rank: rankOperator, slash: true, console: true, run: (*Directory).banned},
		{name: "mute", args: "NICK [DURATION] [REASON]", help: "Let NICK read but not send.", rank: rankOperator, slash: true, console: true, run: (*Directory).mute},
		{name: "unmute", args: "NICK", help: "Let NICK send again.", rank: rankOperator, slash: true, console: true, run: (*Directory).unmute},
		{name: "allow", args: "NICK|fp=FINGERPRINT", help: "Put NICK's credentials (or FINGERPRINT) on the allowlist.", rank: rankOperator, slash: true, console: true, run: (*Directory).allow},
		{name: "disallow", args: "NICK|fp=FINGERPRINT", help: "Take credentials off the allowlist.", rank: rankOperator, slash: true, console: true, run: (*Directory).disallow},
		{name: "motd", args: "[TEXT|-]", help: "Show, set or (with -) clear the message of the day.", rank: rankOperator, slash: true, console: true, run: (*Directory).motd},
		{name: "help", help: "List these commands.", rank: rankOperator, console: true, run: (*Directory).help},
	}
}

// Bounds of the console's arguments and of lists.
const (
	maxListed          = 200
	maxListLines       = 50
	maxConsoleArgs     = 64
	maxConsoleArgBytes = 1024
)

// slashCommands returns the room commands, each a front end to its
// command.
func (d *Directory) slashCommands() []room.Command {
	var out []room.Command
	for _, c := range commands {
		if !c.slash {
			continue
		}
		out = append(out, room.Command{
			Name: "/" + c.name, Args: c.args, Help: c.help,
			OperatorOnly: c.rank >= rankOperator,
			Handler:      d.slashHandler(c),
		})
	}
	return out
}

// slashHandler runs c for a member and tells it the answer.
func (d *Directory) slashHandler(c *command) func(m *room.Member, args string) error {
	return func(m *room.Member, args string) error {
		if d.isClosed() {
			return errClosed
		}
		a := d.memberActor(m)
		if a.rank < c.rank {
			return fmt.Errorf("%w: /%s is for the room's operators only", ErrPermissionDenied, c.name)
		}
		ctx, cancel := context.WithTimeout(context.Background(), d.commandTimeout)
		defer cancel()
		lines, err := c.run(d, ctx, a, strings.Fields(args))
		if err != nil {
			return err
		}
		if len(lines) == 0 {
			return nil
		}
		return m.Tell(lines...)
	}
}

// memberActor is m as an actor.
func (d *Directory) memberActor(m *room.Member) *actor {
	id, nick := m.Identity(), m.Nick() // not under d.mu: the room's lock comes first
	creds := CredentialsOf(id)
	d.mu.RLock()
	defer d.mu.RUnlock()
	return &actor{id: id, creds: creds, name: nick, member: m, rank: d.v.rankOf(creds)}
}

// Run runs an admin command over SSH exec (Console): only owners and
// operators, by the credential they authenticated with, may.
func (d *Directory) Run(ctx context.Context, id room.Identity, args []string) ([]string, error) {
	if d.isClosed() {
		return nil, errClosed
	}
	if len(args) == 0 {
		args = []string{"help"}
	}
	if len(args) > maxConsoleArgs {
		return nil, fmt.Errorf("%w: at most %d words", room.ErrUsage, maxConsoleArgs)
	}
	clean := make([]string, 0, len(args))
	for _, arg := range args {
		if len(arg) > maxConsoleArgBytes {
			return nil, fmt.Errorf("%w: a word of %d bytes", room.ErrUsage, len(arg))
		}
		clean = append(clean, strings.Fields(room.Clean(arg))...)
	}
	if len(clean) == 0 {
		clean = []string{"help"}
	}
	c := findConsole(clean[0])
	if c == nil {
		return nil, fmt.Errorf("%w: %q; help lists them", ErrUnknownCommand, cut(clean[0]))
	}
	a := d.consoleActor(id)
	if a.rank < rankOperator {
		return nil, fmt.Errorf("%w: the admin commands are for the room's owners and operators only", ErrPermissionDenied)
	}
	lines, err := c.run(d, ctx, a, clean[1:])
	if errors.Is(err, room.ErrUsage) {
		return nil, usageError(c, err)
	}
	return lines, err
}

// usageError words err, a room.ErrUsage, as the usage of c followed by
// what err says was wrong, if anything: "usage: ban ...: a duration from
// 1s to 365d".
func usageError(c *command, err error) error {
	detail, ok := strings.CutPrefix(err.Error(), room.ErrUsage.Error()+": ")
	if !ok || detail == "" {
		return fmt.Errorf("%w: %s", room.ErrUsage, c.usage())
	}
	return fmt.Errorf("%w: %s: %s", room.ErrUsage, c.usage(), detail)
}

// findConsole returns the console command called name, or nil.
func findConsole(name string) *command {
	for _, c := range commands {
		if c.console && c.name == strings.ToLower(name) {
			return c
		}
	}
	return nil
}

// consoleActor is the holder of id as an admin: named by its account's
// nickname, else by the admins file's comment if that is a nickname,
// else "an owner"; a member without an account by its fingerprint.
func (d *Directory) consoleActor(id room.Identity) *actor {
	creds := CredentialsOf(id)
	d.mu.RLock()
	defer d.mu.RUnlock()
	a := &actor{id: id, creds: creds, rank: d.v.rankOf(creds)}
	for _, c := range creds {
		if key, ok := d.v.byCred[c]; ok {
			a.name = d.v.accounts[key].rec.Nick
			return a
		}
	}
	for _, c := range creds {
		if _, ok := d.v.owners[c]; ok {
			a.name = ownerName(d.v.owners[c])
			return a
		}
	}
	if len(creds) > 0 {
		a.name = creds[0].String()
	}
	return a
}

// anOwner names an owner whose admins-file comment is no nickname.
const anOwner = "an owner"

// ownerName is how announcements name an owner over the console: the
// admins file's comment only if it is a valid nickname without "@"
// (ssh-keygen writes user@host, which is not the room's business).
func ownerName(comment string) string {
	if comment == "" || strings.Contains(comment, "@") || room.ValidateNick(comment) != nil {
		return anOwner
	}
	return comment
}

// help lists the console's commands.
func (d *Directory) help(_ context.Context, _ *actor, args []string) ([]string, error) {
	if len(args) > 0 {
		return nil, room.ErrUsage
	}
	var out []string
	for _, c := range commands {
		if c.console {
			out = append(out, fmt.Sprintf("%-24s %s", c.usage(), c.help))
		}
	}
	return out, nil
}

// errClosed: the Directory was closed.
var errClosed = errors.New("the access directory is closed")

// isClosed reports whether Close was called.
func (d *Directory) isClosed() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.closed
}
