package tui

import (
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"chatd/room"
)

// The screen draws attention to what is for you: a message that mentions
// your nickname, or a private message to you, rings the terminal's bell.
// The bell is the screen's own BEL, written at most once per batch of
// events and once per BellEvery, never a character from someone's text
// (the room cleans those out). Off by default, the terminal's title can
// show your nick and how many messages came since you last pressed a key:
// "(3) chatd: alice". Options.Title and /title turn it on; /bell off
// silences the bell.

// BellEvery is the least time between two bells: a flood of mentions rings
// once.
const BellEvery = 5 * time.Second

// maxTitleBytes bounds the terminal title the screen sets.
const maxTitleBytes = 64

// alerts is the state of the bell and the title.
type alerts struct {
	bellOff  bool      // /bell off
	lastBell time.Time // when the bell last rang
	ring     bool      // the bell is to ring with the next frame (a Framed screen)
	titleOn  bool      // the screen sets the terminal's title
	unread   int       // messages from others since the person last pressed a key
}

// notice tells the screen's person ev arrived, live (not replayed): it
// counts messages from others for the title, and reports whether ev calls
// for the bell.
func (a *alerts) notice(ev *room.Event, self string) (bell bool) {
	switch ev.Kind {
	case room.Chat, room.Action:
		if ev.From == self {
			return false
		}
		a.unread++
		return nextMention(room.Clean(ev.Text), self, 0) >= 0
	case room.Private:
		a.unread++
		return true
	}
	return false
}

// rang decides whether a bell called for at now rings: not when it is off,
// nor within BellEvery of the last one.
func (a *alerts) rang(now time.Time) bool {
	if a.bellOff || !a.lastBell.IsZero() && now.Sub(a.lastBell) < BellEvery {
		return false
	}
	a.lastBell = now
	return true
}

// callsForBell tells the alerts about ev, just taken in, unless it was
// replayed (history tells nothing new), and reports whether it calls for
// the bell.
func (m *Model) callsForBell(ev *room.Event) bool {
	if m.inHistory || ev.Kind == room.HistoryBegin || ev.Kind == room.HistoryEnd {
		return false
	}
	return m.alert.notice(ev, m.rend.self)
}

// ringBell rings the bell, once for a batch of events in which call says
// one called for it, unless it is off or rang less than BellEvery ago. A
// Framed screen's frame writer rings it with the next frame; Bubble Tea's
// renderer is handed the BEL to write.
func (m *Model) ringBell(call bool) tea.Cmd {
	if !call || !m.alert.rang(m.rend.now()) {
		return nil
	}
	if m.framed {
		m.alert.ring = true
		return nil
	}
	return tea.Raw("\a")
}

// takeBell reports whether the bell is to ring with this frame, once.
func (m *Model) takeBell() bool {
	ring := m.alert.ring
	m.alert.ring = false
	return ring
}

// seen notes that the person pressed a key or scrolled: the messages so
// far are read.
func (m *Model) seen() {
	m.alert.unread = 0
}

// title is the terminal title the screen sets, or "" when it sets none:
// "chatd: alice", "(3) chatd: alice" with 3 messages unread.
func (m *Model) title() string {
	if !m.alert.titleOn || m.conn == nil {
		return ""
	}
	t := "chatd: " + titleSafe(m.rend.self)
	if n := m.alert.unread; n > 0 {
		t = "(" + strconv.Itoa(min(n, 999)) + ") " + t
		if n > 999 {
			t = "(999+" + t[len("(999"):]
		}
	}
	return t
}

// titleSafe keeps of s only printable ASCII, at most maxTitleBytes of it:
// nicks are ASCII, and nothing else belongs in a terminal title sequence.
func titleSafe(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < maxTitleBytes; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		}
	}
	return b.String()
}
