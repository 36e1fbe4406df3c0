package room

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestRegisteredCommandsRunLikeBuiltIns: a command registered with the
// room is run by its lines, with cleaned arguments, listed by /help and
// Room.Commands after the built-in ones, and its errors reach the member
// as the built-ins' do.
func TestRegisteredCommandsRunLikeBuiltIns(t *testing.T) {
	r := newTestRoom(t, Config{})
	var got []string
	err := r.Register(Command{Name: "/shout", Aliases: []string{"!shout"}, Args: "TEXT", Help: "Say TEXT loudly.",
		Handler: func(m *Member, args string) error {
			got = append(got, args)
			switch args {
			case "":
				return ErrUsage
			case "0":
				return fmt.Errorf("%w: a duration from 1s to 365d", ErrUsage)
			case "no":
				return errors.New("the room is hoarse")
			}
			return m.Say(strings.ToUpper(args))
		}})
	if err != nil {
		t.Fatal(err)
	}
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	drain(alice)

	alice.Send("/SHOUT  hello \x1b[1mthere ")
	alice.Send("!shout again")
	assertEvents(t, bob, "chat alice HELLO THERE", "chat alice AGAIN")
	if want := []string{"hello there", "again"}; !slices.Equal(got, want) {
		t.Errorf("the handler got %q, want %q", got, want)
	}
	alice.Send("/shout")
	alice.Send("/shout 0")
	alice.Send("/shout no")
	assertEvents(t, alice, "error usage: /shout TEXT", "error usage: /shout TEXT: a duration from 1s to 365d", "error the room is hoarse")
	if n := r.Stats().Rejected[RejectCommand]; n != 2 {
		t.Errorf("rejected commands %d, want 2 (the usage errors)", n)
	}

	cmds := r.Commands()
	if len(cmds) != len(Commands())+1 || cmds[len(cmds)-1].Name != "/shout" {
		t.Fatalf("Room.Commands() = %d commands ending with %q", len(cmds), cmds[len(cmds)-1].Name)
	}
	alice.Send("/help")
	help := drain(alice)
	if len(help) != len(cmds)+1 || !strings.HasPrefix(help[len(cmds)-1].Text, "/shout TEXT") || !strings.Contains(help[len(cmds)-1].Text, "(also !shout)") {
		t.Errorf("/help said %q", describe(help))
	}
	if slices.ContainsFunc(Commands(), func(c Command) bool { return c.Name == "/shout" }) {
		t.Error("a room's command leaked into the built-in ones")
	}
	other := mustJoin(t, newTestRoom(t, Config{}), "carol")
	other.Send("/shout hi")
	if got := drain(other); len(got) != 1 || !strings.Contains(got[0].Text, `unknown command "/shout"`) {
		t.Errorf("another room ran /shout: %q", describe(got))
	}
}

// TestOperatorOnlyCommandsRefuseOthers: no member is an operator yet, so an
// operator-only command is refused, clearly, and its handler never runs.
func TestOperatorOnlyCommandsRefuseOthers(t *testing.T) {
	r := newTestRoom(t, Config{})
	ran := false
	if err := r.Register(Command{Name: "/kick", Args: "NICK", Help: "Remove NICK from the room.", OperatorOnly: true,
		Handler: func(*Member, string) error { ran = true; return nil }}); err != nil {
		t.Fatal(err)
	}
	alice := mustJoin(t, r, "alice")
	mustJoin(t, r, "bob")
	drain(alice)
	alice.Send("/kick bob")
	assertEvents(t, alice, "error permission denied: /kick is for the room's operators only")
	if ran {
		t.Error("the handler ran for a member who is no operator")
	}
	if len(r.Members()) != 2 || r.Stats().Rejected[RejectCommand] != 1 {
		t.Errorf("members %v, rejected %v", r.Members(), r.Stats().Rejected)
	}
}

// TestRegisterRefusesBadCommands: names must be typable and free.
func TestRegisterRefusesBadCommands(t *testing.T) {
	r := newTestRoom(t, Config{})
	ok := func(*Member, string) error { return nil }
	for _, c := range []Command{
		{Name: "/nick", Handler: ok},
		{Name: "/nick2", Aliases: []string{"!users"}, Handler: ok},
		{Name: "/me", Handler: ok},
		{Name: "/new"},
		{Name: "new", Handler: ok},
		{Name: "/", Handler: ok},
		{Name: "//x", Handler: ok},
		{Name: "/Loud", Handler: ok},
		{Name: "/two words", Handler: ok},
		{Name: "/bell\a", Handler: ok},
		{Name: "/ok", Aliases: []string{"?ok"}, Handler: ok},
		{Name: "/ok", Echo: Join, Handler: ok},
	} {
		if err := r.Register(c); !errors.Is(err, ErrBadCommand) {
			t.Errorf("Register(%q, aliases %q): %v, want ErrBadCommand", c.Name, c.Aliases, err)
		}
	}
	if err := r.Register(Command{Name: "/ok", Aliases: []string{"!ok", "/okay"}, Handler: ok}); err != nil {
		t.Errorf("Register(/ok): %v", err)
	}
	if err := r.Register(Command{Name: "/fine", Aliases: []string{"/okay"}, Handler: ok}); !errors.Is(err, ErrBadCommand) {
		t.Errorf("an alias taken by a registered command: %v", err)
	}
	if got := len(r.Commands()); got != len(Commands())+1 {
		t.Errorf("%d commands after one good registration, want %d", got, len(Commands())+1)
	}
	for i := len(r.Commands()); i < MaxCommands; i++ {
		if err := r.Register(Command{Name: fmt.Sprint("/c", i), Handler: ok}); err != nil {
			t.Fatalf("command %d: %v", i+1, err)
		}
	}
	if err := r.Register(Command{Name: "/onetoomany", Handler: ok}); !errors.Is(err, ErrBadCommand) {
		t.Errorf("command %d: %v, want ErrBadCommand", MaxCommands+1, err)
	}
}

// TestALinePaysForOneOperation: flood control charges a command's line
// once; the handler's first operation is covered by it, further ones are
// charged. A line without a token waits its turn, and pays when it comes.
// A command exempt from flood control runs at once, but its line paid
// nothing and covers nothing: its operations are charged, and while lines
// wait there is no token for them.
func TestALinePaysForOneOperation(t *testing.T) {
	clock := &fakeClock{now: fixedTime}
	r, timers := floodRoom(t, clock, Config{FloodRate: 1, FloodBurst: 4, FloodKick: 100})
	say := func(times int) func(*Member, string) error {
		return func(m *Member, args string) error {
			for i := range times {
				if err := m.Say(fmt.Sprint(args, i)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	calmRan := 0 // Send runs handlers on its caller's goroutine
	calm := func(m *Member, args string) error {
		calmRan++
		return say(1)(m, args)
	}
	for _, c := range []Command{
		{Name: "/once", Handler: say(1)},
		{Name: "/twice", Handler: say(2)},
		{Name: "/calm", Handler: calm, ExemptFromFlood: true},
	} {
		if err := r.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	alice := mustJoin(t, r, "alice")
	bob := mustJoin(t, r, "bob")
	drain(alice)
	alice.Send("/once a")  // 1 token
	alice.Send("/twice b") // 2 tokens
	alice.Send("/once c")  // the last one
	assertEvents(t, bob, "chat alice a0", "chat alice b0", "chat alice b1", "chat alice c0")
	alice.Send("/once d") // no token: it waits its turn
	assertEvents(t, bob)
	assertEvents(t, alice)
	alice.Send("/calm e") // exempt, but its operation is charged: dropped, and explained as the first drop
	if calmRan != 1 {
		t.Errorf("the exempt command ran %d times during the flood, want 1", calmRan)
	}
	assertEvents(t, bob)
	assertEvents(t, alice, "error slow down: you may send 4 lines at once and 1 per second after that; lines over the limit are dropped, and a flood disconnects you")
	if err := alice.Say("f"); !errors.Is(err, ErrFlood) {
		t.Errorf("an operation after the exempt line: %v, want ErrFlood", err)
	}
	clock.Advance(1e9)
	timers.fire() // d's turn
	assertEvents(t, bob, "chat alice d0")
	assertEvents(t, alice)
	clock.Advance(1e9)
	alice.Send("/twice g") // the line's token, then none left for the second
	assertEvents(t, bob, "chat alice g0")
	if got := drain(alice); len(got) != 1 || got[0].Kind != Error || !strings.HasPrefix(got[0].Text, "slow down") {
		t.Errorf("alice got %q, want the second operation explained as the first drop of a flood", describe(got))
	}
}

// TestLookupCommandFindsWhatSendRuns: the client asks the built-in registry
// what a line runs, with the room's own rules.
func TestLookupCommandFindsWhatSendRuns(t *testing.T) {
	for line, want := range map[string]string{
		"/quit": "/quit", "/QUIT bye": "/quit", "!exit": "/quit", "!EXIT now": "/quit", "/me waves": "/me",
		"//quit": "", "  /quit": "", "quit": "", "/quitter": "", "!!!": "", "/nope": "", "": "",
	} {
		cmd, _, found := LookupCommand(line)
		if found != (want != "") || cmd.Name != want {
			t.Errorf("LookupCommand(%q) = %q, %v; want %q", line, cmd.Name, found, want)
		}
	}
	if cmd, args, _ := LookupCommand("/quit  off \x1b[1mto lunch "); !cmd.Leaves || args != "off to lunch" {
		t.Errorf("LookupCommand(/quit ...) = %+v, %q", cmd, args)
	}
	if cmd, _, _ := LookupCommand("/me x"); cmd.Leaves || cmd.Echo != Action {
		t.Errorf("/me: %+v", cmd)
	}
	cmd, _, _ := LookupCommand("!users")
	cmd.Aliases[0] = "!changed"
	if again, _, found := LookupCommand("!users"); !found || again.Aliases[0] != "!users" {
		t.Error("a looked-up command shares its aliases with the registry")
	}
}
