package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	tea "charm.land/bubbletea/v2"

	"chatd/client"
	"chatd/room"
	"chatd/tui"
)

// runScreen runs the chat screen, the same one chatd's SSH sessions get,
// over the TLS session. Ctrl+C quits the room politely. It returns the exit
// status: 0 if the user left, 1 otherwise.
func runScreen(ctx context.Context, session *client.Redialer) int {
	defer session.Close()
	pressedCtrlC := false
	model := tui.New(tui.Options{Conn: session, OnLeave: func() {
		pressedCtrlC = true
		session.Send("/quit") // written before Run returns and the session closes
	}})
	_, err := tea.NewProgram(model, tea.WithContext(ctx)).Run()
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		fmt.Fprintln(os.Stderr, "chat:", err)
		return 1
	}
	reason := model.Reason()
	if pressedCtrlC {
		reason = room.Reason{Kind: room.ReasonQuit}
	}
	if reason != (room.Reason{}) {
		fmt.Fprintf(os.Stderr, "chat: you left the room (%s)\n", reason)
	}
	if reason.Kind == room.ReasonQuit {
		return 0
	}
	return 1
}
