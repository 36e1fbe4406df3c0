package tui

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"chatd/room"
)

// fakeConn is a Conn the test drives by hand; its events are fed to the
// model as EventsMsg.
type fakeConn struct {
	nick   string
	reason room.Reason

	mu      sync.Mutex
	sent    []string
	started int // calls of Start
}

func newFakeConn(nick string) *fakeConn {
	return &fakeConn{nick: nick}
}

// Start counts the screen's requests for events (Starter).
func (c *fakeConn) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started++
}

func (c *fakeConn) starts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.started
}

func (c *fakeConn) Send(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, line)
}
func (c *fakeConn) Nick() string        { return c.nick }
func (c *fakeConn) Reason() room.Reason { return c.reason }
func (c *fakeConn) Sent() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sent)
}

var t0 = time.Date(2025, 3, 4, 12, 34, 0, 0, time.UTC)

func newTestModel(t *testing.T, nick string, w, h int) (*Model, *fakeConn) {
	t.Helper()
	c := newFakeConn(nick)
	m := New(Options{Conn: c, Location: time.UTC, LeaveDelay: -1})
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return m, c
}

func feed(m *Model, evs ...*room.Event) tea.Cmd {
	_, cmd := m.Update(EventsMsg{Events: evs})
	return cmd
}

func chat(from, text string) *room.Event {
	return &room.Event{Kind: room.Chat, From: from, Text: text, Time: t0}
}

// ev makes an event; for a Leave, text is the reason, in words.
func ev(kind room.Kind, from, to, text string) *room.Event {
	if kind == room.Leave {
		return &room.Event{Kind: kind, From: from, Reason: room.ParseReason(text), Time: t0}
	}
	return &room.Event{Kind: kind, From: from, To: to, Text: text, Time: t0}
}

func membersEv(nicks ...string) *room.Event {
	return &room.Event{Kind: room.Members, Nicks: nicks, Time: t0}
}

// screen returns the rows of the model's view as plain text.
func screen(m *Model) []string {
	return strings.Split(ansi.Strip(m.View().Content), "\n")
}

func screenText(m *Model) string { return strings.Join(screen(m), "\n") }

func press(m *Model, keys ...string) {
	for _, k := range keys {
		m.Update(keyMsg(k))
	}
}

func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "pgup":
		return tea.KeyPressMsg{Code: tea.KeyPgUp}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "end":
		return tea.KeyPressMsg{Code: tea.KeyEnd}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	panic("unknown key " + k)
}

func typeText(m *Model, s string) {
	for _, r := range s {
		m.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

func TestKeyNames(t *testing.T) {
	// The model matches keys by name; make sure the names are the ones
	// Bubble Tea gives these keys.
	for _, k := range []string{"enter", "up", "down", "pgup", "pgdown", "end", "ctrl+c"} {
		if got := keyMsg(k).String(); got != k {
			t.Errorf("key %q is named %q", k, got)
		}
	}
}

func TestEnterSendsLine(t *testing.T) {
	m, c := newTestModel(t, "alice", 80, 20)
	typeText(m, "hello there")
	if !strings.Contains(screenText(m), "> hello there") {
		t.Fatalf("typed text not shown:\n%s", screenText(m))
	}
	press(m, "enter")
	typeText(m, "/me waves")
	press(m, "enter")
	typeText(m, "   ")
	press(m, "enter") // blank: not sent
	if got, want := c.Sent(), []string{"hello there", "/me waves"}; !slices.Equal(got, want) {
		t.Fatalf("sent %q, want %q", got, want)
	}
	if v := m.input.value(); v != "" {
		t.Fatalf("input not cleared after enter: %q", v)
	}
	// The real cursor sits after the prompt on the last row, not blinking.
	v := m.View()
	if v.Cursor == nil || v.Cursor.Y != 19 || v.Cursor.X != 2 || v.Cursor.Blink {
		t.Fatalf("cursor = %+v, want steady at (2, 19)", v.Cursor)
	}
	if !v.AltScreen || v.MouseMode != tea.MouseModeCellMotion {
		t.Fatalf("view: alt screen %v, mouse mode %v", v.AltScreen, v.MouseMode)
	}
}

func TestInputHistory(t *testing.T) {
	m, _ := newTestModel(t, "alice", 80, 20)
	for _, s := range []string{"one", "two", "three"} {
		typeText(m, s)
		press(m, "enter")
	}
	typeText(m, "draft")
	steps := []struct{ key, want string }{
		{"up", "three"}, {"up", "two"}, {"up", "one"}, {"up", "one"},
		{"down", "two"}, {"down", "three"}, {"down", "draft"}, {"down", "draft"},
	}
	for i, s := range steps {
		press(m, s.key)
		if got := m.input.value(); got != s.want {
			t.Fatalf("step %d (%s): input %q, want %q", i, s.key, got, s.want)
		}
	}
	// Sending a recalled line again does not store a duplicate.
	press(m, "enter") // sends "draft"
	press(m, "up", "enter")
	if got := m.input.history; !slices.Equal(got, []string{"one", "two", "three", "draft"}) {
		t.Fatalf("history %q", got)
	}
	// A recalled line has the cursor at its end.
	press(m, "up")
	typeText(m, "!")
	if got := m.input.value(); got != "draft!" {
		t.Fatalf("edited recall = %q", got)
	}
}

func TestEventsRender(t *testing.T) {
	m, _ := newTestModel(t, "alice", 100, 20)
	feed(m,
		chat("bob", "hello everyone"),
		ev(room.Action, "bob", "", "waves"),
		ev(room.Private, "bob", "alice", "psst"),
		ev(room.PrivateSent, "alice", "bob", "hi back"),
		ev(room.Notice, "", "", "server notice here"),
		ev(room.Error, "", "", "that was refused"),
		ev(room.Join, "carol", "", ""),
		ev(room.Leave, "carol", "", "quit"),
		ev(room.NickChange, "bob", "bobby", ""),
		membersEv("alice", "bobby"),
	)
	text := screenText(m)
	for _, want := range []string{
		"12:34 bob: hello everyone",
		"12:34 * bob waves",
		"12:34 [PM from bob] psst",
		"12:34 [PM to bob] hi back",
		"12:34 -- server notice here",
		"12:34 !! that was refused",
		"12:34 --> carol joined",
		"12:34 <-- carol left (quit)",
		"12:34 -- bob is now known as bobby",
		"12:34 -- 2 members: alice, bobby",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("screen lacks %q:\n%s", want, text)
		}
	}
	// Each kind has its own look: find the style in front of each text.
	raw := m.View().Content
	styleBefore := func(text string) string {
		i := strings.Index(raw, text)
		if i < 0 {
			t.Fatalf("%q not in the raw view", text)
		}
		j := strings.LastIndex(raw[:i], "\x1b[")
		return raw[j:i]
	}
	looks := map[string]string{}
	for _, text := range []string{"waves", "psst", "server notice here", "that was refused", "--> "} {
		st := styleBefore(text)
		if other, dup := looks[st]; dup {
			t.Errorf("%q and %q look the same (%q)", text, other, st)
		}
		looks[st] = text
	}
}

// TestFarewellsLookLikeTheNoticesAndErrorsTheyWere: a Bye is drawn as the
// notice (a quit, the shutdown) or the error (a disconnection) it used to
// be, in the same style.
func TestFarewellsLookLikeTheNoticesAndErrorsTheyWere(t *testing.T) {
	m, _ := newTestModel(t, "alice", 100, 20)
	bye := func(kind room.ReasonKind, text string) *room.Event {
		return &room.Event{Kind: room.Bye, Text: text, Reason: room.Reason{Kind: kind}, Time: t0}
	}
	feed(m,
		ev(room.Notice, "", "", "a notice"),
		ev(room.Error, "", "", "an error"),
		bye(room.ReasonQuit, "Goodbye."),
		bye(room.ReasonShutdown, room.ShutdownNotice),
		bye(room.ReasonFlood, "disconnected: flooding (too many lines too fast)"),
		bye(room.ReasonSlowConsumer, ""),
	)
	text := screenText(m)
	for _, want := range []string{
		"12:34 -- Goodbye.",
		"12:34 -- The server is shutting down. Goodbye!",
		"12:34 !! disconnected: flooding (too many lines too fast)",
		"12:34 !! slow consumer",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("screen lacks %q:\n%s", want, text)
		}
	}
	raw := m.View().Content
	styleBefore := func(text string) string {
		i := strings.Index(raw, text)
		if i < 0 {
			t.Fatalf("%q not in the raw view", text)
		}
		return raw[strings.LastIndex(raw[:i], "\x1b["):i]
	}
	for farewell, like := range map[string]string{"Goodbye.": "a notice", "The server is": "a notice", "disconnected: flooding": "an error"} {
		if styleBefore(farewell) != styleBefore(like) {
			t.Errorf("%q is not drawn like %q", farewell, like)
		}
	}
}

func TestTimestampsAreLocal(t *testing.T) {
	c := newFakeConn("alice")
	zone := time.FixedZone("X", 5*3600+30*60)
	m := New(Options{Conn: c, Location: zone})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 10})
	feed(m, chat("bob", "hi"))
	if !strings.Contains(screenText(m), "18:04 bob: hi") {
		t.Fatalf("timestamp not in the given zone:\n%s", screenText(m))
	}
}

func TestNickColoursAreStable(t *testing.T) {
	if nickColor("Alice") != nickColor("alice") {
		t.Fatal("nick colour depends on case")
	}
	colours := map[any]bool{}
	for _, n := range []string{"alice", "bob", "carol", "dave", "eve", "mallory", "trent", "peggy"} {
		colours[nickColor(n)] = true
	}
	if len(colours) < 4 {
		t.Fatalf("8 nicks share only %d colours", len(colours))
	}
}

func TestMentionsHighlighted(t *testing.T) {
	m, _ := newTestModel(t, "alice", 100, 10)
	mention := m.st.mention.Render("Alice")
	feed(m, chat("bob", "hey Alice, look"))
	if !strings.Contains(m.View().Content, mention) {
		t.Fatalf("mention not highlighted: %q", m.View().Content)
	}
	for _, text := range []string{"malice aforethought", "alice_ is someone else", "alice-b too"} {
		if got := findMentions(text, "alice"); len(got) != 0 {
			t.Errorf("findMentions(%q) = %v, want none", text, got)
		}
	}
	if got := findMentions("ALICE: hi alice.", "alice"); !slices.Equal(got, []span{{0, 5}, {10, 15}}) {
		t.Errorf("findMentions = %v", got)
	}
	// Your own words are not highlighted.
	m2, _ := newTestModel(t, "alice", 100, 10)
	feed(m2, chat("alice", "I am alice"))
	if strings.Contains(m2.View().Content, m2.st.mention.Render("alice")) {
		t.Fatal("own message highlighted as a mention")
	}
}

func TestMemberListFromEvents(t *testing.T) {
	m, _ := newTestModel(t, "alice", 100, 20)
	feed(m, membersEv("bob", "alice"))
	check := func(step string, want ...string) {
		t.Helper()
		if !slices.Equal(m.members.first(maxListed), want) {
			t.Fatalf("%s: members %q, want %q", step, m.members.first(maxListed), want)
		}
		text := screenText(m)
		if !strings.Contains(text, fmt.Sprintf("members (%d)", len(want))) ||
			!strings.Contains(text, fmt.Sprintf("%d members · alice", len(want))) {
			t.Fatalf("%s: panel or status does not count %d:\n%s", step, len(want), text)
		}
	}
	check("members", "alice", "bob")
	feed(m, ev(room.Join, "Carol", "", ""))
	check("join", "alice", "bob", "Carol")
	feed(m, ev(room.Leave, "bob", "", "quit"))
	check("leave", "alice", "Carol")
	feed(m, ev(room.NickChange, "Carol", "aaron", ""))
	check("nick", "aaron", "alice")

	// Replayed history does not touch the list.
	feed(m,
		&room.Event{Kind: room.HistoryBegin, Count: 3, Time: t0},
		ev(room.Join, "zed", "", ""),
		ev(room.Leave, "aaron", "", "quit"),
		ev(room.NickChange, "alice", "alicia", ""),
		&room.Event{Kind: room.HistoryEnd, Time: t0},
	)
	check("history", "aaron", "alice")
	if m.rend.self != "alice" {
		t.Fatalf("history changed own nick to %q", m.rend.self)
	}
	// Live events after the history count again.
	feed(m, ev(room.Join, "zed", "", ""))
	check("live join", "aaron", "alice", "zed")

	// Your own nick change is followed.
	feed(m, ev(room.NickChange, "alice", "alicia", ""))
	if m.rend.self != "alicia" || !strings.Contains(screenText(m), "· alicia") {
		t.Fatalf("own nick change not followed:\n%s", screenText(m))
	}
}

func TestJoinerStream(t *testing.T) {
	// What a joiner gets: the history, its own join, the member list.
	m, _ := newTestModel(t, "alice", 100, 20)
	feed(m,
		&room.Event{Kind: room.HistoryBegin, Count: 3, Time: t0},
		ev(room.Join, "bob", "", ""),
		chat("bob", "earlier words"),
		ev(room.Leave, "carol", "", "quit"),
		&room.Event{Kind: room.HistoryEnd, Time: t0},
		ev(room.Join, "alice", "", ""),
		membersEv("alice", "bob"),
	)
	if !slices.Equal(m.members.first(maxListed), []string{"alice", "bob"}) {
		t.Fatalf("members %q", m.members.first(maxListed))
	}
	text := screenText(m)
	for _, want := range []string{"earlier messages", "bob: earlier words", "── now ──", "--> alice joined"} {
		if !strings.Contains(text, want) {
			t.Errorf("screen lacks %q:\n%s", want, text)
		}
	}
}

func TestScrollingAndUnread(t *testing.T) {
	m, _ := newTestModel(t, "alice", 80, 12) // 10 rows of messages
	for i := range 40 {
		feed(m, chat("bob", fmt.Sprintf("message %d", i)))
	}
	rows := func() []string { return screen(m)[:10] }
	if !strings.Contains(rows()[9], "message 39") {
		t.Fatalf("bottom row %q", rows()[9])
	}
	press(m, "pgup")
	before := rows()
	if !strings.Contains(before[9], "message 30") {
		t.Fatalf("after pgup the bottom row is %q, want message 30", before[9])
	}
	for i := 40; i < 43; i++ {
		feed(m, chat("bob", fmt.Sprintf("message %d", i)))
	}
	if after := rows(); !slices.Equal(before, after) {
		t.Fatalf("view moved while scrolled up:\n%q\n%q", before, after)
	}
	status := screen(m)[10]
	if !strings.Contains(status, "3 new") {
		t.Fatalf("status %q lacks the unread marker", status)
	}
	press(m, "pgdown") // 12 rows up, a page is 9: not at the bottom yet
	if !strings.Contains(screen(m)[10], "3 new") || !strings.Contains(rows()[9], "message 39") {
		t.Fatalf("after one pgdown: status %q, bottom row %q", screen(m)[10], rows()[9])
	}
	press(m, "pgdown")
	if m.sb.scrolled() || strings.Contains(screen(m)[10], "new") || !strings.Contains(rows()[9], "message 42") {
		t.Fatalf("after two pgdowns: status %q, bottom row %q", screen(m)[10], rows()[9])
	}
	// Wheel up, then End: back at the bottom, marker gone.
	m.Update(tea.MouseWheelMsg{Button: tea.MouseWheelUp})
	if !m.sb.scrolled() {
		t.Fatal("wheel did not scroll")
	}
	feed(m, chat("bob", "message 43"))
	if !strings.Contains(screen(m)[10], "1 new") {
		t.Fatalf("status %q", screen(m)[10])
	}
	press(m, "end")
	if m.sb.scrolled() || m.sb.unread != 0 || strings.Contains(screen(m)[10], "new") {
		t.Fatalf("end did not return to the bottom: %q", screen(m)[10])
	}
	if !strings.Contains(rows()[9], "message 43") {
		t.Fatalf("bottom row %q", rows()[9])
	}
	// Scrolling down by wheel to the bottom clears the marker too.
	m.Update(tea.MouseWheelMsg{Button: tea.MouseWheelUp})
	feed(m, chat("bob", "message 44"))
	m.Update(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	m.Update(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	if m.sb.scrolled() || m.sb.unread != 0 {
		t.Fatalf("wheel down to the bottom left offset %d unread %d", m.sb.offset, m.sb.unread)
	}
}

func TestPageDownClearsMarkerAtBottom(t *testing.T) {
	m, _ := newTestModel(t, "alice", 80, 12)
	for i := range 40 {
		feed(m, chat("bob", fmt.Sprintf("message %d", i)))
	}
	press(m, "pgup", "pgup")
	feed(m, chat("bob", "late"))
	if m.sb.unread != 1 {
		t.Fatalf("unread %d", m.sb.unread)
	}
	press(m, "pgdown")
	if m.sb.unread != 1 || !strings.Contains(screen(m)[10], "1 new") {
		t.Fatalf("marker gone before the bottom: %q", screen(m)[10])
	}
	press(m, "pgdown", "pgdown")
	if m.sb.unread != 0 || strings.Contains(screen(m)[10], "new") {
		t.Fatalf("marker not cleared at the bottom: %q", screen(m)[10])
	}
}

func TestEnterReturnsToBottom(t *testing.T) {
	m, _ := newTestModel(t, "alice", 80, 12)
	for i := range 30 {
		feed(m, chat("bob", fmt.Sprintf("message %d", i)))
	}
	press(m, "pgup")
	typeText(m, "hi")
	press(m, "enter")
	if m.sb.scrolled() {
		t.Fatal("sending a line did not return to the bottom")
	}
}

func TestAppendRendersOnlyTheNewMessage(t *testing.T) {
	m, _ := newTestModel(t, "alice", 100, 30)
	for i := range 200 {
		feed(m, chat("bob", fmt.Sprintf("message %d with some words to wrap around the screen edge now and then", i)))
	}
	if m.sb.renders != 200 {
		t.Fatalf("200 messages rendered %d times", m.sb.renders)
	}
	feed(m, chat("bob", "one more"))
	if m.sb.renders != 201 {
		t.Fatalf("one more message cost %d renders", m.sb.renders-200)
	}
	m.View()
	m.View()
	if m.sb.renders != 201 {
		t.Fatal("View rendered messages")
	}
	// A new height does not re-render; a new width re-renders only what the
	// view needs (and some rows ahead), however long the history.
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 20})
	if m.sb.renders != 201 {
		t.Fatalf("height change cost %d renders", m.sb.renders-201)
	}
	m.Update(tea.WindowSizeMsg{Width: 70, Height: 20})
	cost := m.sb.renders - 201
	if cost == 0 || cost > 18+overscan {
		t.Fatalf("width change cost %d renders, want at most a screen and the overscan (%d)", cost, 18+overscan)
	}
	// Member changes do not re-render messages either.
	before := m.sb.renders
	feed(m, ev(room.Join, "zed", "", ""))
	if m.sb.renders != before+1 {
		t.Fatalf("join cost %d renders", m.sb.renders-before)
	}
}

func TestScrollingUpAfterResizeRendersOnDemand(t *testing.T) {
	const n = 300
	msg := func(i int) *room.Event {
		return chat("bob", fmt.Sprintf("message %d with enough words to wrap on a narrow screen, 日本語 too", i))
	}
	resized, _ := newTestModel(t, "alice", 100, 20)
	for i := range n {
		feed(resized, msg(i))
	}
	resized.Update(tea.WindowSizeMsg{Width: 61, Height: 20})
	fresh, _ := newTestModel(t, "alice", 61, 20)
	for i := range n {
		feed(fresh, msg(i))
	}
	for step := 0; step <= 2*n; step++ {
		if got, want := screenText(resized), screenText(fresh); got != want {
			t.Fatalf("after %d pages up, the resized screen shows\n%s\nwhile a screen made at that width shows\n%s", step, got, want)
		}
		if resized.sb.stale == 0 && resized.sb.offset == resized.sb.maxOffset() {
			break // at the top, everything rendered
		}
		press(resized, "pgup")
		press(fresh, "pgup")
	}
	if resized.sb.stale != 0 {
		t.Errorf("%d messages were never rendered on the way to the top", resized.sb.stale)
	}
}

func TestScrollbackIsBounded(t *testing.T) {
	c := newFakeConn("alice")
	m := New(Options{Conn: c, Location: time.UTC, Scrollback: 50})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 10})
	for i := range 1000 {
		feed(m, chat("bob", fmt.Sprintf("message %d", i)))
	}
	if n := len(m.sb.entries); n < 50 || n > 50+50/4 {
		t.Fatalf("kept %d messages, want 50 to 62", n)
	}
	if n := len(m.sb.lines); n != len(m.sb.entries) {
		t.Fatalf("%d lines for %d one-line messages", n, len(m.sb.entries))
	}
	if !strings.Contains(screen(m)[7], "message 999") {
		t.Fatalf("newest message not at the bottom: %q", screen(m)[7])
	}
}

func TestResizeRelaysOut(t *testing.T) {
	m, _ := newTestModel(t, "alice", 100, 20)
	long := strings.Repeat("word ", 30)
	feed(m, membersEv("alice", "bob"), chat("bob", long))
	for _, size := range [][2]int{{100, 20}, {40, 20}, {70, 8}, {120, 40}} {
		m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		rows := screen(m)
		if len(rows) != size[1] {
			t.Fatalf("%v: %d rows", size, len(rows))
		}
		for i, r := range rows {
			if w := ansi.StringWidth(r); w > size[0] {
				t.Fatalf("%v: row %d is %d wide: %q", size, i, w, r)
			}
		}
		if c := m.View().Cursor; c == nil || c.Y != size[1]-1 {
			t.Fatalf("%v: cursor %+v not on the last row", size, c)
		}
	}
}

func TestNarrowScreenHidesMemberList(t *testing.T) {
	m, _ := newTestModel(t, "alice", 100, 10)
	feed(m, membersEv("alice", "bob"))
	if !strings.Contains(screenText(m), "members (2)") {
		t.Fatalf("wide screen lacks the member list:\n%s", screenText(m))
	}
	m.Update(tea.WindowSizeMsg{Width: 50, Height: 10})
	text := screenText(m)
	if strings.Contains(text, "members (2)") || strings.Contains(text, "│") {
		t.Fatalf("narrow screen shows the member list:\n%s", text)
	}
	if !strings.Contains(text, "2 members · alice") {
		t.Fatalf("status lost the count:\n%s", text)
	}
}

func TestWideCharactersFit(t *testing.T) {
	texts := []string{
		"你好世界，这是一个很长的中文句子，用来测试换行是否正确处理宽字符。" + strings.Repeat("汉字", 30),
		"emoji 🎉🎉🎉 party 👍🏽 thumbs 👨‍👩‍👧 family 🇯🇵 flag " + strings.Repeat("🙂", 50),
		"mixed ＡＢＣ full-width and ｶﾀｶﾅ half-width, e\u0301 combining, " + strings.Repeat("x", 150),
		strings.Repeat("長", 7) + "a" + strings.Repeat("長", 80),
	}
	for _, w := range []int{12, 21, 33, 59, 60, 61, 80, 101} {
		m, _ := newTestModel(t, "alice", w, 30)
		feed(m, membersEv("alice", "bob"))
		for _, s := range texts {
			feed(m, chat("someone-with-a-long-nick", s), ev(room.Action, "bob", "", s), ev(room.Notice, "", "", s))
		}
		typeText(m, "入力も"+strings.Repeat("字", 80))
		rows := screen(m)
		if len(rows) != 30 {
			t.Fatalf("width %d: %d rows", w, len(rows))
		}
		for i, r := range rows {
			if g, wc := ansi.StringWidth(r), ansi.StringWidthWc(r); g > w || wc > w {
				t.Fatalf("width %d: row %d is %d (%d) wide: %q", w, i, g, wc, r)
			}
		}
		// With the member list shown, its separator lines up on every row,
		// measured as the screen measures (per code point, as tmux does).
		if w >= minWidthForPanel {
			col := w - panelWidth(w) + 1 // after the gap
			for i, r := range rows[:28] {
				if got := cutWc(r, col, col+1); got != "│" {
					t.Fatalf("width %d: row %d has %q at column %d: %q", w, i, got, col, r)
				}
			}
		}
		// The cursor is at the end of the typed text, on screen.
		if c := m.View().Cursor; c == nil || c.X >= w || c.X < 2 {
			t.Fatalf("width %d: cursor %+v", w, c)
		}
	}
}

// cutWc returns the columns [left, right) of s, measured per code point as
// the screen and tmux measure. (ansi.CutWc cuts the left side by another
// measure.)
func cutWc(s string, left, right int) string {
	return ansi.TruncateLeftWc(ansi.TruncateWc(s, right, ""), left, "")
}

func TestWrapHangingIndent(t *testing.T) {
	m, _ := newTestModel(t, "alice", 40, 20)
	feed(m, chat("bob", "the quick brown fox jumps over the lazy dog and keeps running far away"))
	rows := screen(m)[:18]
	var msg []string
	for _, r := range rows {
		if strings.TrimSpace(r) != "" {
			msg = append(msg, r)
		}
	}
	if len(msg) < 2 || !strings.HasPrefix(msg[0], "12:34 bob: the quick") {
		t.Fatalf("rows %q", msg)
	}
	indent := len("12:34 bob: ")
	for _, r := range msg[1:] {
		if !strings.HasPrefix(r, strings.Repeat(" ", indent)) || r[indent] == ' ' {
			t.Fatalf("continuation %q not indented by %d", r, indent)
		}
	}
	// Words are not split when they fit on a line of their own.
	joined := strings.Join(strings.Fields(strings.Join(msg, " ")), " ")
	if !strings.Contains(joined, "the quick brown fox jumps over the lazy dog and keeps running far away") {
		t.Fatalf("words lost or split: %q", joined)
	}
}

func TestWrapSpans(t *testing.T) {
	for _, tc := range []struct {
		text        string
		first, rest int
		want        []string
	}{
		{"hello world", 20, 20, []string{"hello world"}},
		{"hello world", 7, 7, []string{"hello", "world"}},
		{"hello   world", 8, 8, []string{"hello", "world"}},
		{"abcdefghij", 4, 4, []string{"abcd", "efgh", "ij"}},
		{"ab 你好世界", 5, 5, []string{"ab 你", "好世", "界"}},
		{"你好世界", 3, 3, []string{"你", "好", "世", "界"}},
		{"", 5, 5, []string{""}},
	} {
		var got []string
		for _, sp := range wrap(tc.text, tc.first, tc.rest, 0, 0, ansi.WcWidth) {
			got = append(got, tc.text[sp.start:sp.end])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("wrap(%q, %d, %d) = %q, want %q", tc.text, tc.first, tc.rest, got, tc.want)
		}
	}
}

func TestControlCharactersCannotEscape(t *testing.T) {
	// The room cleans text, but a screen fed from the network cleans again.
	m, _ := newTestModel(t, "alice", 80, 10)
	feed(m, chat("bob", "evil \x1b[2J\x1b]0;title\x07 text\r\nnext"))
	raw := m.View().Content
	if strings.Contains(raw, "\x1b[2J") || strings.Contains(raw, "\x1b]0;") || strings.Contains(raw, "\r") {
		t.Fatalf("control sequence passed through: %q", raw)
	}
}

func TestClosedStreamShowsReasonAndQuits(t *testing.T) {
	c := newFakeConn("alice")
	m := New(Options{Conn: c, Location: time.UTC, LeaveDelay: time.Millisecond})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 10})
	c.reason = room.Reason{Kind: room.ReasonSlowConsumer}
	start := m.Init()
	if start == nil {
		t.Fatal("the screen did not ask for its events")
	}
	start()
	if n := c.starts(); n != 1 {
		t.Fatalf("Start called %d times, want once", n)
	}
	_, cmd := m.Update(EventsMsg{Events: []*room.Event{chat("bob", "last words")}, Closed: true})
	text := screenText(m)
	if !strings.Contains(text, "bob: last words") || !strings.Contains(text, "you left the room: slow consumer") {
		t.Fatalf("screen:\n%s", text)
	}
	if m.Reason() != (room.Reason{Kind: room.ReasonSlowConsumer}) || m.Reason().String() != "slow consumer" {
		t.Fatalf("Reason() = %q", m.Reason())
	}
	if cmd == nil {
		t.Fatal("no command after the stream closed")
	}
	_, cmd = m.Update(cmd()) // the delay
	if cmd == nil {
		t.Fatal("did not quit after the delay")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("did not quit after the delay")
	}
}

// TestBatchesKeepComing: events arrive in batches the model does not have
// to ask for again, and a Conn that does not wait to be asked is not.
func TestBatchesKeepComing(t *testing.T) {
	m, _ := newTestModel(t, "alice", 80, 10)
	for i := range 2 {
		evs := []*room.Event{chat("bob", fmt.Sprint("a", i)), chat("bob", fmt.Sprint("b", i))}
		if _, cmd := m.Update(EventsMsg{Events: evs}); cmd != nil {
			t.Fatalf("batch %d: a command %#v after events", i, cmd())
		}
	}
	if text := screenText(m); !strings.Contains(text, "bob: b0") || !strings.Contains(text, "bob: b1") {
		t.Fatalf("screen:\n%s", text)
	}
	type plainConn struct{ Conn }
	if New(Options{Conn: plainConn{newFakeConn("alice")}}).Init() != nil {
		t.Fatal("a command to start a Conn that is no Starter")
	}
}

func TestCtrlCLeaves(t *testing.T) {
	c := newFakeConn("alice")
	left := 0
	m := New(Options{Conn: c, OnLeave: func() { left++ }})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 10})
	_, cmd := m.Update(keyMsg("ctrl+c"))
	if left != 1 {
		t.Fatalf("leave hook called %d times", left)
	}
	if cmd == nil {
		t.Fatal("ctrl+c did not quit")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("ctrl+c did not quit")
	}
}

func TestNickPrompt(t *testing.T) {
	var tried []string
	c := newFakeConn("alice2")
	join := func(nick string) (Conn, error) {
		tried = append(tried, nick)
		if nick == "alice" {
			return nil, errors.New(`nickname taken: "alice" is already in use, choose another`)
		}
		return c, nil
	}
	m := New(Options{Join: join, Problem: `You cannot join as "root": nope`, Location: time.UTC})
	if m.Init() != nil {
		t.Fatal("listening before joining")
	}
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 20})
	text := screenText(m)
	if !strings.Contains(text, `You cannot join as "root": nope`) || !strings.Contains(text, "Choose a nickname") {
		t.Fatalf("prompt:\n%s", text)
	}
	typeText(m, "alice")
	_, cmd := m.Update(keyMsg("enter"))
	if cmd == nil {
		t.Fatal("enter did not try to join")
	}
	m.Update(cmd())
	if text := screenText(m); !strings.Contains(text, "already in use") || m.conn != nil {
		t.Fatalf("refusal not shown:\n%s", text)
	}
	typeText(m, "2")
	_, cmd = m.Update(keyMsg("enter"))
	_, cmd = m.Update(cmd())
	if m.conn != c || cmd == nil {
		t.Fatal("did not switch to the chat after joining")
	}
	if cmd(); c.starts() != 1 {
		t.Fatalf("Start called %d times after joining, want once", c.starts())
	}
	if !slices.Equal(tried, []string{"alice", "alice2"}) {
		t.Fatalf("tried %q", tried)
	}
	feed(m, membersEv("alice", "alice2"))
	if text := screenText(m); !strings.Contains(text, "2 members · alice2") {
		t.Fatalf("chat screen:\n%s", text)
	}
	typeText(m, "hi")
	m.Update(keyMsg("enter"))
	if !slices.Equal(c.Sent(), []string{"hi"}) {
		t.Fatalf("sent %q", c.Sent())
	}
}

func TestUnicodeCoreSwitchesWidthMethod(t *testing.T) {
	m, _ := newTestModel(t, "alice", 80, 10)
	feed(m, chat("bob", "hi"), chat("bob", "❤️ family 👨‍👩‍👧"))
	before := m.sb.renders
	m.Update(tea.ModeReportMsg{Mode: ansi.ModeUnicodeCore, Value: ansi.ModeSet})
	if m.rend.method != ansi.GraphemeWidth || m.sb.renders != before+2 {
		t.Fatalf("method %v, renders %d -> %d", m.rend.method, before, m.sb.renders)
	}
	m.Update(tea.ModeReportMsg{Mode: ansi.ModeUnicodeCore, Value: ansi.ModeSet})
	if m.sb.renders != before+2 {
		t.Fatal("a second report re-rendered again")
	}
	for i, r := range screen(m) {
		if w := ansi.StringWidth(r); w > 80 {
			t.Fatalf("row %d is %d wide", i, w)
		}
	}
}

// statusConn is a fakeConn with a state for the status line.
type statusConn struct {
	*fakeConn
	text    string
	warning bool
}

func (c *statusConn) Status() (string, bool) { return c.text, c.warning }

func TestStatusLineShowsTheConnectionsState(t *testing.T) {
	for _, tc := range []struct {
		text    string
		warning bool
	}{{"TLS 1.3 · verified", false}, {"NOT VERIFIED (--insecure)", true}} {
		c := &statusConn{fakeConn: newFakeConn("alice"), text: tc.text, warning: tc.warning}
		m := New(Options{Conn: c, Location: time.UTC, LeaveDelay: -1})
		m.Update(tea.WindowSizeMsg{Width: 100, Height: 20})
		feed(m, membersEv("alice", "bob"))
		rows := screen(m)
		status := rows[len(rows)-2]
		if !strings.Contains(status, "2 members · alice") || !strings.Contains(status, tc.text) {
			t.Errorf("status line %q lacks the member count or %q", status, tc.text)
		}
		if red := strings.Contains(m.View().Content, "48;5;160"); red != tc.warning {
			t.Errorf("warning=%v, but a red background is drawn: %v", tc.warning, red)
		}
	}
}

// TestScreenKeepsOnlyLinesNearTheView checks that a screen following a long
// chat keeps the rendered lines of only the newest messages (the memory of
// an SSH session stays small however long the history), and that scrolling
// back still shows every message kept, rendered again on demand.
func TestScreenKeepsOnlyLinesNearTheView(t *testing.T) {
	m, _ := newTestModel(t, "alice", 100, 30)
	for i := range DefaultScrollback {
		feed(m, chat("bob", fmt.Sprintf("message %d", i)))
	}
	if n, most := len(m.sb.lines), 28+4*overscan; n > most {
		t.Fatalf("%d lines rendered after %d messages; want at most %d", n, DefaultScrollback, most)
	}
	rendered := m.sb.renders
	for range DefaultScrollback / 20 {
		press(m, "pgup")
	}
	if first := screen(m)[0]; !strings.HasSuffix(strings.TrimRight(first[:70], " "), "bob: message 0") {
		t.Fatalf("the top of the scrollback does not show the oldest message:\n%s", screenText(m))
	}
	if m.sb.renders == rendered {
		t.Fatal("scrolling back rendered nothing: the old lines were kept after all")
	}
}

// TestBigRoomCountsMembersNotListed checks a screen in a room too big for a
// full member list and one-by-one joins: the counts come from the Members
// event's total and from Presence summaries, not from the nicks listed.
func TestBigRoomCountsMembersNotListed(t *testing.T) {
	m, _ := newTestModel(t, "alice", 100, 30)
	nicks := make([]string, 100)
	for i := range nicks {
		nicks[i] = fmt.Sprintf("user%03d", i)
	}
	nicks[0] = "alice"
	feed(m, &room.Event{Kind: room.Members, Nicks: nicks, Count: 10000, Time: t0})
	text := screenText(m)
	for _, want := range []string{"10000 members: alice, user001", "and 9900 more", "members (10000)", "chatd · 10000 members · alice"} {
		if !strings.Contains(text, want) {
			t.Errorf("screen lacks %q:\n%s", want, text)
		}
	}
	feed(m, &room.Event{Kind: room.Presence, Joined: 15, Left: 3, Count: 10012, Time: t0})
	text = screenText(m)
	for _, want := range []string{"15 joined, 3 left, 10012 members now", "members (10012)", "10012 members · alice"} {
		if !strings.Contains(text, want) {
			t.Errorf("after a summary, screen lacks %q:\n%s", want, text)
		}
	}
	// A member not listed leaves: the count still drops.
	feed(m, ev(room.Leave, "user500", "", ""))
	if text := screenText(m); !strings.Contains(text, "10011 members · alice") {
		t.Errorf("a leave of someone not listed did not count:\n%s", text)
	}
}
