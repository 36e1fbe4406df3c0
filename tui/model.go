package tui

import (
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"chatd/room"
)

// DefaultLeaveDelay is how long the screen shows why the chat ended before
// the program quits, when Options leaves LeaveDelay zero.
const DefaultLeaveDelay = time.Second

// maxInputBytes bounds a typed line as the room does, in bytes: the room
// refuses longer ones.
const maxInputBytes = room.DefaultMaxLineBytes

// Options configure a chat screen.
type Options struct {
	// Conn carries the chat. When it is nil the screen first asks for a
	// nickname and calls Join with it.
	Conn Conn
	// Join joins the room under nick for the nickname prompt. When it fails,
	// the error's text is shown and the person is asked again. It runs
	// outside the update loop, so it may take a network round trip.
	Join func(nick string) (Conn, error)
	// Problem is shown above the nickname prompt, for instance why the
	// nickname the person came with was refused.
	Problem string
	// OnLeave is called when the person presses Ctrl+C to leave, before the
	// program quits.
	OnLeave func()
	// Location is the time zone of timestamps; nil means time.Local.
	Location *time.Location
	// Scrollback is how many messages the screen keeps; 0 means
	// DefaultScrollback.
	Scrollback int
	// ScrollbackBytes bounds the memory those messages hold, as their
	// size is counted, with the rows rendered from them; 0 means DefaultScrollbackBytes. Whichever limit is
	// reached first drops the oldest messages.
	ScrollbackBytes int
	// LeaveDelay is how long the reason for leaving stays on screen before
	// the program quits; 0 means DefaultLeaveDelay, a negative value quits at
	// once. Any key quits sooner.
	LeaveDelay time.Duration
	// Title has the screen set the terminal's title to your nick and the
	// messages unread, "(3) chatd: alice", from the start; /title on and
	// /title off change it.
	Title bool
	// Crypto describes an SSH session's crypto, as it is when called: with
	// it, the screen answers /crypto (and /tls) itself, calling it each
	// time, so that a rekey since is reflected. Left nil (or returning
	// nil), those lines go to the Conn like any command.
	Crypto func() *SSHCrypto
}

// Model is the chat screen: scrollback, member list, status line and input
// line, or first a nickname prompt. It is a Bubble Tea model; use it through
// a pointer, as New returns it.
type Model struct {
	opts Options
	st   styles
	rend renderer

	conn      Conn
	sb        *scrollback
	members   members
	input     input
	inHistory bool        // between HistoryBegin and HistoryEnd
	hist      historyMark // the history replay arriving, for its divider
	left      bool        // the event stream has ended
	quitting  bool        // Ctrl+C was pressed
	reason    room.Reason // why, once left
	alert     alerts      // the bell and the terminal title
	help      helpState   // a /help waiting for the room's answer
	framed    bool        // drawn by a frame writer (Framed), not Bubble Tea

	// farewell: the last event shown is the server's farewell for a
	// Final reason, which then needs no repeating (showFinal).
	farewell bool

	// The nickname prompt, while conn is nil or asking.
	nickInput input
	problem   string
	joining   bool
	asking    bool // the prompt is shown over the chat (AskNickMsg)

	link link // the Conn's connection (LinkMsg, status.go)

	width, height int

	// The last frame, worked out again only after something changed.
	dirty bool
	frame screenFrame
	text  string   // the frame as one string, for View; "" until asked for
	panel []string // the member panel's rows, nil when they must be redrawn
}

// EventsMsg (conn.go) carries room events; these are the model's other
// messages.
type (
	// joinedMsg reports the outcome of Options.Join.
	joinedMsg struct {
		conn Conn
		err  error
	}
	// quitNowMsg ends the program once the reason for leaving was shown.
	quitNowMsg struct{}
)

// ErrorMsg shows an error that comes from the screen's own side rather
// than from the room, such as a paste cut by the server that reads the
// keys, in the scrollback as the room's errors are shown.
type ErrorMsg string

// New returns a chat screen. Either opts.Conn or opts.Join must be set.
func New(opts Options) *Model {
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Scrollback <= 0 {
		opts.Scrollback = DefaultScrollback
	}
	if opts.ScrollbackBytes <= 0 {
		opts.ScrollbackBytes = DefaultScrollbackBytes
	}
	if opts.LeaveDelay == 0 {
		opts.LeaveDelay = DefaultLeaveDelay
	}
	m := &Model{
		opts:      opts,
		st:        defaultStyles(),
		input:     newInput("> ", maxInputBytes),
		nickInput: newInput("nickname: ", 64),
		problem:   opts.Problem,
		alert:     alerts{titleOn: opts.Title},
		dirty:     true,
	}
	m.rend = renderer{st: &m.st, loc: opts.Location, method: ansi.WcWidth, now: time.Now}
	m.sb = newScrollback(opts.Scrollback, opts.ScrollbackBytes, &m.rend)
	if opts.Conn != nil {
		m.connect(opts.Conn)
	}
	return m
}

// connect starts the chat on c.
func (m *Model) connect(c Conn) {
	m.conn = c
	m.rend.self = c.Nick()
}

// Reason says why the chat ended, once it has; the zero Reason before that.
func (m *Model) Reason() room.Reason { return m.reason }

// Init asks for the events of the Conn, if already connected and it waits
// to be asked (Starter).
func (m *Model) Init() tea.Cmd {
	if m.conn != nil {
		return startEvents(m.conn)
	}
	return nil
}

// Update handles keys, the mouse wheel, resizes and room events.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
	case tea.ModeReportMsg:
		// The renderer measures characters as whole grapheme clusters once
		// the terminal reports Unicode core support; wrap the same way.
		if msg.Mode == ansi.ModeUnicodeCore && (msg.Value == ansi.ModeSet || msg.Value == ansi.ModeReset || msg.Value == ansi.ModePermanentlySet) && m.rend.method != ansi.GraphemeWidth {
			m.rend.method = ansi.GraphemeWidth
			m.sb.rerender()
		} else {
			return m, nil
		}
	case EventsMsg:
		m.dirty = true
		return m, m.apply(msg)
	case joinedMsg:
		m.dirty = true
		return m, m.joined(msg)
	case LinkMsg:
		m.dirty = true
		return m, m.setLink(msg)
	case linkTickMsg:
		return m, m.onLinkTick(msg)
	case AskNickMsg:
		m.askNick(msg)
	case quitNowMsg:
		return m, tea.Quit
	case pageMsg:
		m.dirty = true
		return m, m.gotPage(msg)
	case pageRetryMsg:
		return m, m.pageCmd()
	case helpTimeoutMsg:
		m.helpTimedOut(msg)
	case ErrorMsg:
		m.sb.add(&room.Event{Kind: room.Error, Text: string(msg), Time: time.Now()})
	case tea.KeyPressMsg:
		m.dirty = true
		if m.conn == nil || m.asking {
			return m, m.promptKey(msg)
		}
		return m, m.chatKey(msg)
	case tea.PasteMsg:
		if m.conn == nil || m.asking {
			m.nickInput.update(msg)
		} else if !m.left {
			m.input.update(msg)
		}
	case tea.MouseWheelMsg:
		m.seen()
		switch msg.Button {
		case tea.MouseWheelUp:
			m.sb.scroll(3)
		case tea.MouseWheelDown:
			m.sb.scroll(-3)
		default:
			return m, nil
		}
		m.dirty = true
		return m, m.pageCmd()
	default:
		return m, nil
	}
	m.dirty = true
	return m, nil
}

// apply takes in a batch of events and, once they end, shows why and
// quits after the delay.
func (m *Model) apply(msg EventsMsg) tea.Cmd {
	if m.conn == nil || m.left {
		return nil // no chat to show them in: not yet joined, or over
	}
	call := false
	notSent, _ := m.conn.(NotSentReporter)
	for _, ev := range msg.Events {
		m.track(ev)
		if notSent != nil && ownUnstored(ev) && notSent.NotSent(ev) {
			ev = markedNotSent(ev) // refused before the screen showed it
		}
		m.sb.add(ev)
		m.farewell = ev.Kind == room.Bye && ev.Reason.Final()
		m.noteHistory(ev)
		m.noteHelp(ev)
		call = m.callsForBell(ev) || call
		if notSent != nil && ev.Kind == room.Error { // read-only, or muted
			m.sb.markNotSent(notSent.NotSent)
		}
	}
	if !msg.Closed {
		return m.ringBell(call)
	}
	m.left = true
	m.asking = false
	m.reason = m.conn.Reason()
	m.showFinal()
	if m.quitting {
		return nil // already on the way out
	}
	if m.opts.LeaveDelay < 0 {
		return tea.Quit
	}
	return tea.Tick(m.opts.LeaveDelay, func(time.Time) tea.Msg { return quitNowMsg{} })
}

// showFinal shows, as the last line, why the server sent the user away
// for good (a Final reason: kicked, banned, refused), unless its farewell
// already is the last line: an SSH screen's member is not sent one. The
// screen offers no reconnecting; any key closes it.
func (m *Model) showFinal() {
	if !m.reason.Final() || m.farewell {
		return
	}
	m.sb.add(&room.Event{Kind: room.Bye, Reason: m.reason, Time: m.rend.now()})
	m.farewell = true
}

// track keeps the member list and your own nick up to date. Replayed history
// tells what happened before you came, so it changes neither.
func (m *Model) track(ev *room.Event) {
	switch ev.Kind {
	case room.HistoryBegin:
		m.inHistory = true
	case room.HistoryEnd:
		m.inHistory = false
	case room.Members:
		m.members.set(ev.Nicks, ev.Count)
	case room.Presence:
		if m.inHistory {
			return
		}
		m.members.setCount(ev.Count)
	case room.Join, room.Leave, room.NickChange:
		if m.inHistory {
			return
		}
		switch ev.Kind {
		case room.Join:
			m.members.add(ev.From)
		case room.Leave:
			m.members.remove(ev.From)
		case room.NickChange:
			m.members.rename(ev.From, ev.To)
			if ev.From == m.rend.self {
				m.rend.self = ev.To
			}
		}
	default:
		return
	}
	m.panel = nil
}

// chatKey handles a key on the chat screen.
func (m *Model) chatKey(msg tea.KeyPressMsg) tea.Cmd {
	if msg.String() == "ctrl+c" {
		if !m.left && m.opts.OnLeave != nil {
			m.opts.OnLeave()
		}
		m.quitting = true
		return tea.Quit
	}
	if m.left {
		return tea.Quit // the reason is on screen; any key closes it
	}
	m.seen()
	switch msg.String() {
	case "enter":
		cmd := m.submit(m.input.take())
		m.sb.bottom()
		return tea.Batch(cmd, m.latestCmd())
	case "up":
		m.input.prev()
	case "down":
		m.input.next()
	case "pgup":
		m.sb.scroll(m.sb.page())
		return m.pageCmd()
	case "pgdown":
		m.sb.scroll(-m.sb.page())
		return m.pageCmd()
	case "shift+up":
		m.sb.scroll(1)
		return m.pageCmd()
	case "shift+down":
		m.sb.scroll(-1)
		return m.pageCmd()
	case "ctrl+end":
		m.sb.bottom()
		return m.latestCmd()
	case "end":
		m.sb.bottom()
		m.input.update(msg) // and to the end of the line
		return m.latestCmd()
	default:
		m.input.update(msg)
	}
	return nil
}

// resize lays the screen out again for a new terminal size.
func (m *Model) resize(width, height int) {
	m.width, m.height = max(width, 0), max(height, 0)
	m.sb.resize(m.width-panelWidth(m.width), max(m.height-2, 0))
	m.panel = nil
}

// View draws the screen. Only what changed since the last frame is worked
// out again: the scrollback's lines are cached, and the frame itself is
// reused when nothing happened.
func (m *Model) View() tea.View {
	f := m.screen()
	if m.text == "" {
		m.text = f.String()
	}
	v := tea.NewView(m.text)
	v.WindowTitle = f.title
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.Cursor = f.cursor
	return v
}

// screen returns the current frame. It works the frame out again only after
// something changed.
func (m *Model) screen() *screenFrame {
	if m.dirty {
		m.frame.reset()
		m.text = ""
		if m.conn == nil || m.asking {
			m.promptView()
		} else {
			m.chatView()
		}
		m.frame.title = m.title()
		m.dirty = false
	}
	return &m.frame
}

// chatView works out the chat screen's frame: the scrollback with the
// member list at its right, the status bar and the input line. The rows of
// the scrollback are its cached lines, not copies.
func (m *Model) chatView() {
	w, h := m.width, m.height
	if w <= 0 || h <= 0 {
		return
	}
	f := &m.frame
	pw := panelWidth(w)
	mw := w - pw
	rows := max(h-2, 0)
	if pw > 0 && m.panel == nil {
		m.panel = m.linkPanel(m.members.view(pw, rows, m.rend.self, &m.st))
	}
	lines := m.sb.window()
	blank := rows - len(lines)
	for i := range rows {
		var r frameRow
		if i >= blank {
			ln := lines[i-blank]
			if ln.w > mw {
				// A wide character across the edge leaves the cut
				// line a column short: measure it, so the padding
				// fills up to the member list.
				cut := m.rend.method.Truncate(ln.s, mw, "")
				ln = line{s: cut, w: m.rend.method.StringWidth(cut)}
			}
			r.left = ln.s
			if pw > 0 {
				r.pad = mw - ln.w
			}
		} else if pw > 0 {
			r.pad = mw
		}
		if pw > 0 && i < len(m.panel) {
			r.right = m.panel[i]
		}
		f.rows = append(f.rows, r)
	}
	if h >= 2 {
		f.rows = append(f.rows, frameRow{left: m.statusView(w)})
	}
	in, cx := m.input.view(w, &m.st, m.rend.method)
	f.rows = append(f.rows, frameRow{left: in})
	f.scroll = rows
	if pw > 0 {
		f.split = mw
	}
	if !m.left {
		f.cursor = &tea.Cursor{Position: tea.Position{X: cx, Y: h - 1}, Shape: tea.CursorBlock}
	}
}

// statusView draws the status bar: room, member count, your nick, and while
// scrolled up how many messages arrived below.
func (m *Model) statusView(w int) string {
	st := &m.st
	count := strconv.Itoa(m.members.len()) + " members"
	if m.members.len() == 1 {
		count = "1 member"
	}
	left := " chatd · " + count + " · " + m.rend.self
	style := st.status
	if m.left {
		left = " chatd · you left the room"
		if why := m.reason.String(); why != "" {
			left += ": " + why
		}
		style = st.gone
	}
	if m.link.Down && !m.left {
		return m.linkStatus(w)
	}
	right := ""
	if sr, ok := m.conn.(StatusReporter); ok && !m.left {
		if text, warning := sr.Status(); text != "" {
			if warning {
				return m.warningStatus(w, left, text)
			}
			left += " · " + text
		}
	}
	if m.sb.scrolled() {
		if m.sb.unread > 0 {
			right = "↓ " + strconv.Itoa(m.sb.unread) + " new · End "
		} else {
			right = "↑ scrolled · End "
		}
	}
	method := m.rend.method
	lw, rw := method.StringWidth(left), method.StringWidth(right)
	if lw+rw > w {
		left = method.Truncate(left, max(w-rw, 0), "…")
		lw = method.StringWidth(left)
		if lw+rw > w {
			right, rw = "", 0
		}
	}
	out := style.Render(left + spaces(w-lw-rw))
	if right != "" {
		out += st.unread.Render(right)
	}
	return out
}

// warningStatus draws the status bar with the connection's warning in red
// on the right, where it cannot be missed.
func (m *Model) warningStatus(w int, left, warning string) string {
	method := m.rend.method
	warning = " " + warning + " "
	ww := min(method.StringWidth(warning), w)
	left = method.Truncate(left, max(w-ww, 0), "…")
	lw := method.StringWidth(left)
	return m.st.status.Render(left+spaces(w-lw-ww)) + m.st.warning.Render(method.Truncate(warning, ww, ""))
}

var blanks = strings.Repeat(" ", 256)

// spaces returns n spaces, without allocating for common widths.
func spaces(n int) string {
	if n <= 0 {
		return ""
	}
	if n <= len(blanks) {
		return blanks[:n]
	}
	return strings.Repeat(" ", n)
}
