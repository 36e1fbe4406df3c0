package main

import (
	"errors"
	"fmt"
	"io"

	"chatd/client"
	"chatd/room"
)

// sentAway reports whether err says that the server turned chat away for
// good as it joined (a client.ByeError with a Final reason: a ban, or the
// access policy), and why. chat then says so and exits: it never retries.
func sentAway(err error) (room.Reason, bool) {
	var bye *client.ByeError
	if errors.As(err, &bye) && bye.Reason.Final() {
		return bye.Reason, true
	}
	return room.Reason{}, false
}

// sayFarewell tells the user, on w, in the server's words, why the server
// sent them away for good (reason is Final): "chat: You were kicked by
// alice: spam." or "chat: You are banned until ...: spam.". The words come
// from the server and are cleaned for the terminal.
func sayFarewell(w io.Writer, reason room.Reason) {
	fmt.Fprintln(w, "chat:", room.Clean(reason.Farewell()))
}

// sayEnded says why the session ended, unless the user quit, and returns
// the exit status: 0 after a quit, 1 otherwise. A Final reason (kicked,
// banned) is said in the server's words; chat has not reconnected.
func sayEnded(w io.Writer, reason room.Reason) int {
	switch {
	case reason.Kind == room.ReasonQuit:
		return exitOK
	case reason.Final():
		sayFarewell(w, reason)
	default:
		fmt.Fprintf(w, "chat: you left the room (%s)\n", room.Clean(reason.String()))
	}
	return exitFailed
}
