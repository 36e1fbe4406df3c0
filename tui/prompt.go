package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"

	"chatd/room"
)

// The nickname prompt is shown while the screen has no Conn: the person types
// a nickname, Options.Join tries it, and a refusal is shown above the prompt
// until a nickname is accepted.

// promptKey handles a key on the nickname prompt.
func (m *Model) promptKey(msg tea.KeyPressMsg) tea.Cmd {
	switch msg.String() {
	case "ctrl+c":
		return tea.Quit
	case "enter":
		nick := strings.TrimSpace(m.nickInput.value())
		if nick == "" || m.joining || m.opts.Join == nil {
			return nil
		}
		m.joining = true
		join := m.opts.Join
		return func() tea.Msg {
			c, err := join(nick)
			return joinedMsg{conn: c, err: err}
		}
	default:
		m.nickInput.update(msg)
	}
	return nil
}

// joined switches to the chat once Join succeeded, or shows why it failed.
func (m *Model) joined(msg joinedMsg) tea.Cmd {
	m.joining = false
	if msg.err != nil || msg.conn == nil {
		if msg.err != nil {
			m.problem = msg.err.Error()
		}
		return nil
	}
	again := m.asking // the same Conn, whose events flow already
	m.asking = false
	m.connect(msg.conn)
	m.problem = ""
	if again {
		m.panel = nil
		return nil
	}
	return startEvents(m.conn)
}

// promptView draws the nickname prompt.
func (m *Model) promptView() {
	w, h := m.width, m.height
	if w <= 0 || h <= 0 {
		return
	}
	st := &m.st
	method := m.rend.method
	var rows []string
	add := func(text string, style func(string) string) {
		for _, sp := range wrap(text, w-1, w-1, 0, 0, method) {
			rows = append(rows, " "+style(text[sp.start:sp.end]))
		}
	}
	rows = append(rows, " "+st.title.Render("chatd"), "")
	if m.problem != "" {
		add(room.Clean(m.problem), st.err.Render)
		rows = append(rows, "")
	}
	add("Choose a nickname to join the chat.", st.title.Render)
	in, cx := m.nickInput.view(w-1, st, method)
	inputRow := len(rows)
	rows = append(rows, " "+in, "")
	hint := "Enter to join · Ctrl+C to leave"
	if m.joining {
		hint = "Joining…"
	}
	add(hint, st.hint.Render)
	if len(rows) > h {
		// Too short a screen: keep the input line in view.
		start := min(max(0, inputRow-h+1), len(rows)-h)
		rows = rows[start : start+h]
		inputRow -= start
	}
	for _, r := range rows {
		m.frame.rows = append(m.frame.rows, frameRow{left: r})
	}
	m.frame.cursor = &tea.Cursor{Position: tea.Position{X: 1 + cx, Y: inputRow}, Shape: tea.CursorBlock}
}
