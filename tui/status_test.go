package tui

import (
	"errors"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// statusRow is the status line, as text.
func statusRow(m *Model) string {
	rows := screen(m)
	return rows[len(rows)-2]
}

// TestLostConnectionGreysTheMembersAndCountsDown: while the Conn is away
// the member list is greyed, the count leaves the status line, one status
// line says why and counts down to the next attempt, and the scrollback
// gets nothing; once back, all is as before.
func TestLostConnectionGreysTheMembersAndCountsDown(t *testing.T) {
	m, _ := newTestModel(t, "alice", 100, 20)
	now := t0
	m.rend.now = func() time.Time { return now }
	feed(m, membersEv("alice", "bob"), chat("bob", "hello"))
	before := len(m.sb.entries)
	colour := "   " + nickStyle("bob").pre + "bob" // bob in his colour in the member list
	if !strings.Contains(m.View().Content, colour) {
		t.Fatal("bob is not in his colour in the member list to begin with")
	}

	_, cmd := m.Update(LinkMsg{Down: true, Why: "connection refused", RetryAt: now.Add(3 * time.Second)})
	if cmd == nil {
		t.Error("no tick scheduled for the countdown")
	}
	status := statusRow(m)
	if !strings.Contains(status, "disconnected (connection refused); reconnecting in 3s") || strings.Contains(status, "members") {
		t.Errorf("status line while away: %q", status)
	}
	view := m.View().Content
	if strings.Contains(view, colour) || !strings.Contains(view, offline.pre+" │   bob") {
		t.Errorf("the member list is not greyed while away:\n%q", view)
	}
	if !strings.Contains(screenText(m), "bob") {
		t.Error("the member list was emptied: it should show, greyed, who was there")
	}

	now = now.Add(1200 * time.Millisecond)
	if cmd := m.onLinkTick(linkTickMsg{gen: m.link.gen}); cmd == nil {
		t.Error("the countdown stopped early")
	}
	if status := statusRow(m); !strings.Contains(status, "reconnecting in 2s") {
		t.Errorf("after 1.2 s the status line says %q", status)
	}
	if cmd := m.onLinkTick(linkTickMsg{gen: m.link.gen - 1}); cmd != nil {
		t.Error("a tick of an earlier countdown started another")
	}
	now = now.Add(2 * time.Second)
	if cmd := m.onLinkTick(linkTickMsg{gen: m.link.gen}); cmd != nil {
		t.Error("the countdown goes on past its end")
	}
	if status := statusRow(m); !strings.Contains(status, "disconnected (connection refused); reconnecting…") {
		t.Errorf("during the attempt the status line says %q", status)
	}
	if len(m.sb.entries) != before {
		t.Errorf("the scrollback grew from %d to %d messages while away", before, len(m.sb.entries))
	}

	m.Update(LinkMsg{})
	if status := statusRow(m); !strings.Contains(status, "2 members · alice") || strings.Contains(status, "disconnected") {
		t.Errorf("status line once back: %q", status)
	}
	if !strings.Contains(m.View().Content, colour) {
		t.Error("the member list is still greyed once back")
	}
}

// TestLongReasonKeepsTheCountdown: a long reason is cut, the countdown is
// not.
func TestLongReasonKeepsTheCountdown(t *testing.T) {
	m, _ := newTestModel(t, "alice", 70, 20)
	now := t0
	m.rend.now = func() time.Time { return now }
	m.Update(LinkMsg{Down: true, Why: strings.Repeat("very long reason ", 10), RetryAt: now.Add(9 * time.Second)})
	status := statusRow(m)
	if !strings.Contains(status, "…); reconnecting in 9s") || !strings.Contains(status, "alice") {
		t.Errorf("status line %q", status)
	}
	if w := len([]rune(status)); w > 70 {
		t.Errorf("status line is %d wide", w)
	}
}

// TestAskNickOverTheChat: the room refused the nickname on the way back.
// The prompt shows over the chat with the old nickname filled in; a refusal
// is shown; once a nickname is accepted the same chat is back, with what
// came meanwhile, and its events are not asked for again.
func TestAskNickOverTheChat(t *testing.T) {
	c := newFakeConn("alice")
	var tried []string
	join := func(nick string) (Conn, error) {
		tried = append(tried, nick)
		if nick == "alice" {
			return nil, errors.New(`the server refused the nickname "alice": nickname taken`)
		}
		c.nick = nick
		return c, nil
	}
	m := New(Options{Conn: c, Join: join, Location: time.UTC, LeaveDelay: -1})
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 20})
	if cmd := m.Init(); cmd != nil {
		cmd()
	}
	feed(m, membersEv("alice", "bob"), chat("bob", "before you left"))

	m.Update(LinkMsg{Down: true, Why: "nickname refused"})
	m.Update(AskNickMsg{Problem: `While you were away, the server refused the nickname "alice": nickname taken`, Nick: "alice"})
	text := screenText(m)
	for _, want := range []string{"While you were away", "Choose a nickname", "nickname: alice"} {
		if !strings.Contains(text, want) {
			t.Errorf("the prompt lacks %q:\n%s", want, text)
		}
	}
	feed(m, chat("bob", "said meanwhile")) // events still reach the chat behind the prompt

	_, cmd := m.Update(keyMsg("enter"))
	m.Update(cmd())
	if text := screenText(m); !strings.Contains(text, "nickname taken") || !strings.Contains(text, "Choose a nickname") {
		t.Fatalf("the refusal is not shown on the prompt:\n%s", text)
	}
	typeText(m, "2")
	_, cmd = m.Update(keyMsg("enter"))
	if _, cmd = m.Update(cmd()); cmd != nil {
		t.Error("asked for the events of a Conn whose events flow already")
	}
	m.Update(LinkMsg{})
	if got := strings.Join(tried, ","); got != "alice,alice2" {
		t.Errorf("tried %s", got)
	}
	text = screenText(m)
	for _, want := range []string{"bob: before you left", "bob: said meanwhile", "· alice2"} {
		if !strings.Contains(text, want) {
			t.Errorf("the chat, once back, lacks %q:\n%s", want, text)
		}
	}
	if c.starts() != 1 {
		t.Errorf("Start called %d times, want once", c.starts())
	}
	typeText(m, "hi")
	m.Update(keyMsg("enter"))
	if sent := c.Sent(); len(sent) != 1 || sent[0] != "hi" {
		t.Errorf("sent %q", sent)
	}
}
