//go:build !unix

package main

import (
	"time"

	tea "charm.land/bubbletea/v2"
	"golang.org/x/term"
)

// followSize looks at the terminal's size every half second, where no
// signal says that it changed, and sends it to the screen (send) when it
// did, until the returned function is called.
func followSize(fd int, send func(tea.Msg)) (stop func()) {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Second / 2)
		defer tick.Stop()
		w, h, _ := term.GetSize(fd)
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if nw, nh, err := term.GetSize(fd); err == nil && (nw != w || nh != h) {
					w, h = nw, nh
					send(tea.WindowSizeMsg{Width: w, Height: h})
				}
			}
		}
	}()
	return func() { close(done) }
}
