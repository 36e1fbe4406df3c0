package tui

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/vt"

	"chatd/room"
)

// clock is a time the test moves by hand.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) advance(d time.Duration) { c.now = c.now.Add(d) }

// bellModel returns a screen for alice with a clock of the test's.
func bellModel(t *testing.T, opts Options) (*Model, *fakeConn, *clock) {
	t.Helper()
	c := newFakeConn("alice")
	opts.Conn, opts.Location, opts.LeaveDelay = c, time.UTC, -1
	m := New(opts)
	clk := &clock{now: t0}
	m.rend.now = clk.Now
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 12})
	return m, c, clk
}

// rings reports whether cmd writes a BEL to the terminal.
func rings(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	raw, ok := cmd().(tea.RawMsg)
	return ok && raw.Msg == "\a"
}

// TestBellRingsForMentionsAndPrivateMessages: a mention of your nick as a
// word, in any case, or a private message rings the bell, once for a
// batch; your own messages, other words that contain your nick, replayed
// history and notices do not; and the bell rings at most once per
// BellEvery, however many call for it.
func TestBellRingsForMentionsAndPrivateMessages(t *testing.T) {
	m, _, clk := bellModel(t, Options{})
	for _, tc := range []struct {
		name string
		evs  []*room.Event
		want bool
	}{
		{"plain chat", []*room.Event{chat("bob", "hello all")}, false},
		{"a word that contains the nick", []*room.Event{chat("bob", "malice and palaces")}, false},
		{"your own message", []*room.Event{chat("alice", "alice here")}, false},
		{"a notice", []*room.Event{ev(room.Notice, "", "", "alice: welcome")}, false},
		{"history", []*room.Event{{Kind: room.HistoryBegin, Count: 1, Time: t0}, chat("bob", "alice?"), {Kind: room.HistoryEnd, Time: t0}}, false},
		{"a mention", []*room.Event{chat("bob", "ALICE, look")}, true},
		{"a mention in an action", []*room.Event{ev(room.Action, "bob", "", "waves at Alice")}, true},
		{"a private message", []*room.Event{ev(room.Private, "bob", "alice", "psst")}, true},
		{"your private message sent", []*room.Event{ev(room.PrivateSent, "alice", "bob", "alice says")}, false},
		{"many in a batch", []*room.Event{chat("bob", "alice"), chat("carol", "alice"), ev(room.Private, "bob", "alice", "x")}, true},
	} {
		clk.advance(BellEvery)
		if got := rings(feed(m, tc.evs...)); got != tc.want {
			t.Errorf("%s: rang %v, want %v", tc.name, got, tc.want)
		}
	}
	// A flood of mentions rings once per BellEvery.
	clk.advance(BellEvery)
	rang := 0
	for range 50 {
		if rings(feed(m, chat("mallory", "alice alice alice"))) {
			rang++
		}
		clk.advance(BellEvery / 10)
	}
	if want := 50 / 10; rang != want {
		t.Errorf("50 mentions in %v rang %d times, want %d", 5*BellEvery, rang, want)
	}
}

// TestBellCanBeSilenced: /bell off stops the bell and /bell on starts it
// again; neither line goes to the room, and each says what it did.
func TestBellCanBeSilenced(t *testing.T) {
	m, c, clk := bellModel(t, Options{})
	typeText(m, "/bell off")
	press(m, "enter")
	clk.advance(BellEvery)
	if rings(feed(m, ev(room.Private, "bob", "alice", "psst"))) {
		t.Error("the bell rang after /bell off")
	}
	typeText(m, "/BELL on")
	press(m, "enter")
	clk.advance(BellEvery)
	if !rings(feed(m, ev(room.Private, "bob", "alice", "psst"))) {
		t.Error("the bell did not ring after /bell on")
	}
	typeText(m, "/bell loud")
	press(m, "enter")
	if sent := c.Sent(); len(sent) != 0 {
		t.Errorf("the screen's commands went to the room: %q", sent)
	}
	text := screenText(m)
	for _, want := range []string{"The bell is silenced", "The bell rings for a mention", "usage: /bell on|off"} {
		if !strings.Contains(text, want) {
			t.Errorf("screen lacks %q:\n%s", want, text)
		}
	}
}

// TestTitleShowsUnreadMessages: off by default the screen sets no title;
// with /title on (or Options.Title) it shows your nick, and the messages
// from others since you last pressed a key: "(2) chatd: alice".
func TestTitleShowsUnreadMessages(t *testing.T) {
	m, c, _ := bellModel(t, Options{})
	feed(m, chat("bob", "one"))
	if title := m.View().WindowTitle; title != "" {
		t.Fatalf("title %q without /title on", title)
	}
	typeText(m, "/title on")
	press(m, "enter")
	if title := m.View().WindowTitle; title != "chatd: alice" {
		t.Errorf("title %q after a key, want %q", title, "chatd: alice")
	}
	feed(m, chat("bob", "two"), chat("alice", "mine"), ev(room.Private, "carol", "alice", "three"), ev(room.Join, "dave", "", ""))
	if title := m.View().WindowTitle; title != "(2) chatd: alice" {
		t.Errorf("title %q, want %q", title, "(2) chatd: alice")
	}
	press(m, "pgup")
	if title := m.View().WindowTitle; title != "chatd: alice" {
		t.Errorf("title %q after a key, want %q", title, "chatd: alice")
	}
	typeText(m, "/title off")
	press(m, "enter")
	if title := m.View().WindowTitle; title != "" {
		t.Errorf("title %q after /title off", title)
	}
	if sent := c.Sent(); len(sent) != 0 {
		t.Errorf("the screen's commands went to the room: %q", sent)
	}

	on, _, _ := bellModel(t, Options{Title: true})
	feed(on, membersEv("alice"))
	if title := on.View().WindowTitle; title != "chatd: alice" {
		t.Errorf("with Options.Title the title is %q", title)
	}
}

// TestFramedScreenRingsAndTitles: a screen drawn by the frame writer
// writes the BEL once with the frame after the mention, sets the title it
// shows (saving the terminal's first) and, when it closes, gives the
// terminal its title back.
func TestFramedScreenRingsAndTitles(t *testing.T) {
	var out bytes.Buffer
	m, _, clk := bellModel(t, Options{Title: true})
	s := NewFramed(m, &out, 0)
	s.Start()
	s.Update(EventsMsg{Events: []*room.Event{membersEv("alice", "bob")}})
	s.View()
	if got := out.String(); strings.Contains(got, "\a") || !strings.Contains(got, pushTitle+setTitle+"chatd: alice"+endTitle) {
		t.Errorf("first frame %q: want the title pushed and set, no bell", got)
	}
	out.Reset()
	clk.advance(BellEvery)
	s.Update(EventsMsg{Events: []*room.Event{chat("bob", "alice: ping"), chat("bob", "alice?")}})
	s.View()
	s.View() // the next frame rings no more
	if got := out.String(); strings.Count(got, "\a") != 1 || !strings.Contains(got, setTitle+"(2) chatd: alice"+endTitle) {
		t.Errorf("frames after two mentions %q: want the new title and one bell", got)
	}
	out.Reset()
	s.Close()
	if got := out.String(); !strings.HasSuffix(got, restoreTitle) {
		t.Errorf("closing wrote %q, want it to end with %q", got, restoreTitle)
	}
}

// TestHelpListsTheScreensKeys: /help goes to the room, and once the
// room's list has ended, the screen's keys and commands follow it. When
// the room does not answer, the keys come after a while anyway.
func TestHelpListsTheScreensKeys(t *testing.T) {
	m, c, _ := bellModel(t, Options{})
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 40})
	typeText(m, "/help")
	press(m, "enter")
	if sent := c.Sent(); len(sent) != 1 || sent[0] != "/help" {
		t.Fatalf("sent %q, want /help", sent)
	}
	feed(m, ev(room.Notice, "", "", "/nick NEW Change your nickname."), chat("bob", "meanwhile"))
	if strings.Contains(screenText(m), "PgUp") {
		t.Fatalf("keys shown before the room's list ended:\n%s", screenText(m))
	}
	feed(m, ev(room.Notice, "", "", room.LiteralSlashHelp))
	rows := screen(m)
	at := func(want string) int {
		for i, r := range rows {
			if strings.Contains(r, want) {
				return i
			}
		}
		t.Errorf("screen lacks %q:\n%s", want, strings.Join(rows, "\n"))
		return -1
	}
	last := at("Start a line with //")
	for _, key := range []string{"PgUp/PgDn", "End", "Up/Down", "Ctrl+C", "/title on|off", "/bell on|off"} {
		if i := at("-- " + key + " "); i >= 0 && i <= last {
			t.Errorf("%s is listed before the room's commands end", key)
		}
	}

	// Without an answer, the timeout shows them; a stale timeout does not.
	m2, _, _ := bellModel(t, Options{})
	m2.Update(tea.WindowSizeMsg{Width: 100, Height: 40})
	typeText(m2, "/HELP")
	press(m2, "enter")
	m2.Update(helpTimeoutMsg{gen: m2.help.gen - 1})
	if strings.Contains(screenText(m2), "PgUp") {
		t.Fatal("a stale timeout showed the keys")
	}
	m2.Update(helpTimeoutMsg{gen: m2.help.gen})
	if !strings.Contains(screenText(m2), "PgUp/PgDn Scroll") {
		t.Fatalf("no keys after the timeout:\n%s", screenText(m2))
	}
}

// TestTwoHelpsShowTheKeysAfterEachList: /help typed twice before the room
// answers gets the keys after each of the room's two lists, not once
// between them; the timeouts of answered /help show nothing more.
func TestTwoHelpsShowTheKeysAfterEachList(t *testing.T) {
	m, c, _ := bellModel(t, Options{})
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 40})
	for range 2 {
		typeText(m, "/help")
		press(m, "enter")
	}
	if sent := c.Sent(); len(sent) != 2 {
		t.Fatalf("sent %q, want two /help", sent)
	}
	list := []*room.Event{ev(room.Notice, "", "", "/who List the members."), ev(room.Notice, "", "", room.LiteralSlashHelp)}
	feed(m, list...)
	feed(m, list...)
	m.Update(helpTimeoutMsg{gen: 1})
	m.Update(helpTimeoutMsg{gen: 2})
	var got []string
	for _, e := range m.sb.entries {
		switch e.ev.Text {
		case list[0].Text:
			got = append(got, "list")
		case screenHelp[0]:
			got = append(got, "keys")
		}
	}
	if want := "list keys list keys"; strings.Join(got, " ") != want {
		t.Fatalf("the screen shows %q, want %q", strings.Join(got, " "), want)
	}
}

// TestLeadingSpaceMakesAChatLine: the room trims a line on the right only,
// so " /help" and " /bell off" are chat for everyone; the screen reads them
// as the room does: it sends them, shows no keys when the wait for a /help
// answer would have ended, and leaves the bell on. A trailing space, which
// the room trims, still makes a command.
func TestLeadingSpaceMakesAChatLine(t *testing.T) {
	m, c, _ := bellModel(t, Options{})
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 40})
	for _, line := range []string{" /help", " /bell off"} {
		typeText(m, line)
		press(m, "enter")
	}
	if sent := c.Sent(); strings.Join(sent, "|") != " /help| /bell off" {
		t.Fatalf("sent %q, want both lines as typed", sent)
	}
	m.Update(helpTimeoutMsg{gen: m.help.gen})
	if strings.Contains(screenText(m), "PgUp") || m.alert.bellOff {
		t.Fatalf("the lines ran as commands (bell off: %v):\n%s", m.alert.bellOff, screenText(m))
	}
	typeText(m, "/bell off ")
	press(m, "enter")
	if !m.alert.bellOff || len(c.Sent()) != 2 {
		t.Fatalf("\"/bell off \" did not silence the bell (sent %q)", c.Sent())
	}
}

// TestFrameWriterKeepsTheBorderWhereTheTerminalMeasuresOtherwise: the
// terminal emulator draws a lone regional indicator two columns wide
// where the screen counts one (as tmux does), and an emoji with a skin
// tone two columns where the screen counts four. Rows full of them, drawn
// and redrawn as the view scrolls, never push the member list's separator
// off its column, and rows drawn narrower leave nothing behind.
func TestFrameWriterKeepsTheBorderWhereTheTerminalMeasuresOtherwise(t *testing.T) {
	const w, h = 80, 12
	emu := vt.NewEmulator(w, h)
	var out bytes.Buffer
	frames := newFrameWriter(&out, 0)
	m := New(Options{Conn: newFakeConn("alice"), Location: time.UTC})
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	feed(m, membersEv("alice", "bob"))
	frames.start()
	_, _ = emu.Write(out.Bytes()) // no automatic wrap at the margin, as on an SSH screen
	draw := func(step string) {
		t.Helper()
		out.Reset()
		frames.frame(m.screen())
		_, _ = emu.Write(out.Bytes())
		sep := w - panelWidth(w) + 1
		for y := range h - 2 {
			if c := emu.CellAt(sep, y); c == nil || c.Content != "│" {
				t.Fatalf("%s: row %d has no separator at column %d:\n%s", step, y, sep, strings.Join(emulatorRows(emu, h), "\n"))
			}
			if row := emulatorRows(emu, h)[y]; strings.Contains(row, "👍") && strings.Contains(row, "x") {
				t.Fatalf("%s: row %d keeps an old x:\n%s", step, y, strings.Join(emulatorRows(emu, h), "\n"))
			}
		}
	}
	for i := range 30 {
		var text string
		switch i % 3 { // no two alike, so that the view never looks scrolled
		case 0:
			text = strings.Repeat("🇩x", 30+i)
		case 1:
			text = strings.Repeat("👍🏽", 12+i)
		default:
			text = fmt.Sprintf("%d %s", i, strings.Repeat("x", 60+i))
		}
		feed(m, chat("bob", text))
		draw(fmt.Sprintf("message %d", i))
	}
	for _, k := range []string{"pgup", "pgup", "pgdown", "pgup", "end"} {
		press(m, k)
		draw(k)
	}
}
