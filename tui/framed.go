package tui

import (
	"io"
	"time"

	tea "charm.land/bubbletea/v2"
)

// Framed is a chat screen whose frames a frame writer draws in place of
// Bubble Tea's renderer: run it in a program started with
// tea.WithoutRenderer(). A server with many screens uses it, because the
// frame writer keeps no cell buffer and sends only the rows that changed
// (see frameWriter); so does cmd/chat, because the frame writer draws the
// member list at its column after any row whose characters a terminal may
// measure otherwise than the screen, so that it never moves.
type Framed struct {
	*Model
	frames *frameWriter
}

// NewFramed returns m drawn on w at most once per interval.
func NewFramed(m *Model, w io.Writer, interval time.Duration) *Framed {
	m.framed = true
	return &Framed{Model: m, frames: newFrameWriter(w, interval)}
}

// Start prepares the terminal: the alternate screen, mouse and paste
// reports. Call it before the program runs.
func (s *Framed) Start() { s.frames.start() }

// Close draws the last frame if one waits and gives the terminal back as it
// was. Call it once the program has ended.
func (s *Framed) Close() { s.frames.close() }

// Update updates the chat screen; a new size also clears the terminal.
func (s *Framed) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if _, ok := msg.(tea.WindowSizeMsg); ok {
		s.frames.resize()
	}
	_, cmd := s.Model.Update(msg)
	return s, cmd
}

// View hands the frame to the frame writer; Bubble Tea draws nothing.
func (s *Framed) View() tea.View {
	if s.Model.takeBell() {
		s.frames.ring()
	}
	s.frames.frame(s.Model.screen())
	return tea.View{}
}
