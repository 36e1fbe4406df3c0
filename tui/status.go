package tui

import (
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// A Conn that can lose its connection to the room and get it back (the
// bundled client's) tells the screen with LinkMsg. While the connection is
// down the screen tells the truth: the member list is greyed (it is what
// the room looked like when the connection was lost), the member count is
// gone from the status line, and the status line says why and counts down
// to the next attempt. The scrollback is not touched: the Conn says once,
// when it is back, that it reconnected. If the room refuses the nickname on
// the way back, AskNickMsg asks for another over the chat.

// LinkMsg reports the state of the Conn's connection to the room.
type LinkMsg struct {
	// Down reports that the connection is lost.
	Down bool
	// Why is a few words on why ("connection refused").
	Why string
	// RetryAt is when the Conn tries again; zero while it is trying.
	RetryAt time.Time
}

// AskNickMsg shows the nickname prompt over the chat, which it keeps, with
// Problem above it and Nick filled in, because the room refused the
// nickname when the Conn came back. Options.Join is called with the
// nickname typed and must bring the same Conn back; then the chat is shown
// again.
type AskNickMsg struct {
	Problem string
	Nick    string
}

// link is what the screen knows of its Conn's connection.
type link struct {
	LinkMsg
	gen int // the countdown's generation: ticks of an earlier one are dropped
}

// linkTickMsg redraws the countdown.
type linkTickMsg struct{ gen int }

// offline is the paint of the member list while the connection is down.
var offline = paintOf(lipgloss.NewStyle().Foreground(lipgloss.Color("240")))

// setLink takes in a LinkMsg and starts its countdown.
func (m *Model) setLink(msg LinkMsg) tea.Cmd {
	m.link = link{LinkMsg: msg, gen: m.link.gen + 1}
	m.panel = nil // greyed or not
	return m.linkTick()
}

// linkTick schedules the countdown's next redraw: when the whole seconds
// it shows change.
func (m *Model) linkTick() tea.Cmd {
	if !m.link.Down || m.link.RetryAt.IsZero() {
		return nil
	}
	left := m.link.RetryAt.Sub(m.rend.now())
	if left <= 0 {
		return nil
	}
	next := left - (left-1)/time.Second*time.Second // to the next whole second shown
	gen := m.link.gen
	return tea.Tick(next, func(time.Time) tea.Msg { return linkTickMsg{gen: gen} })
}

// onLinkTick redraws the countdown, unless the link changed since.
func (m *Model) onLinkTick(msg linkTickMsg) tea.Cmd {
	if msg.gen != m.link.gen {
		return nil
	}
	m.dirty = true
	return m.linkTick()
}

// linkText is the status line's account of a lost connection, with the
// reason cut so that the whole fits in width columns.
func (m *Model) linkText(width int) string {
	var tail string
	left := m.link.RetryAt.Sub(m.rend.now())
	switch {
	case m.link.RetryAt.IsZero() || left <= 0:
		tail = "; reconnecting…"
	default:
		secs := (left + time.Second - 1) / time.Second
		tail = "; reconnecting in " + strconv.Itoa(int(secs)) + "s"
	}
	why := m.link.Why
	if why == "" {
		return "disconnected" + tail
	}
	method := m.rend.method
	room := width - method.StringWidth("disconnected ()"+tail)
	if room < 8 {
		return "disconnected" + tail
	}
	return "disconnected (" + method.Truncate(why, room, "…") + ")" + tail
}

// linkStatus is the status line while the connection is down: the nick on
// the left, the account of the lost connection in red on the right, and no
// member count.
func (m *Model) linkStatus(w int) string {
	left := " chatd · " + m.rend.self
	room := max(w-m.rend.method.StringWidth(left)-2, w/2)
	return m.warningStatus(w, left, m.linkText(room))
}

// linkPanel greys the member list's rows while the connection is down.
func (m *Model) linkPanel(rows []string) []string {
	if !m.link.Down {
		return rows
	}
	for i, r := range rows {
		rows[i] = offline.Render(ansi.Strip(r))
	}
	return rows
}

// askNick shows the nickname prompt over the chat.
func (m *Model) askNick(msg AskNickMsg) {
	if m.left {
		return
	}
	m.asking = true
	m.problem = msg.Problem
	m.nickInput = newInput("nickname: ", 64)
	m.nickInput.ti.SetValue(strings.TrimSpace(msg.Nick))
	m.nickInput.ti.CursorEnd()
}
