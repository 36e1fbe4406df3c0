//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"

	tea "charm.land/bubbletea/v2"
)

// followSize sends the terminal's new size to the screen (send) whenever
// it changes, until the returned function is called.
func followSize(fd int, send func(tea.Msg)) (stop func()) {
	changed := make(chan os.Signal, 1)
	signal.Notify(changed, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-changed:
				sendSize(fd, send)
			}
		}
	}()
	return func() {
		signal.Stop(changed)
		close(done)
	}
}
