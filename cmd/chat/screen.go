package main

import (
	"context"
	"fmt"
	"os"

	"chatd/tlsgw"
)

// runScreen runs the chat screen. Until the tui package is wired in, it
// says so and ends the session.
func runScreen(_ context.Context, session *tlsgw.Redialer, _ *options) int {
	session.Close()
	fmt.Fprintln(os.Stderr, "chat: the chat screen is not available in this build yet; use --plain")
	return 1
}
