package main

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	tea "charm.land/bubbletea/v2"
)

// crashGuard runs a screen model and catches a panic in its Update or View.
// Bubble Tea catches one too, but prints it while the chat screen still
// owns the alternate screen, so it vanishes with the screen; the guard
// keeps it, quits the program, and run prints it once the terminal is back.
type crashGuard struct {
	tea.Model
	quit func() // asks the program to quit (its Quit); set before it runs

	mu    sync.Mutex
	crash *screenCrash // the first panic, nil if none
}

// screenCrash is a panic caught in the screen, with where it happened.
type screenCrash struct {
	value any
	stack []byte
}

func (c *screenCrash) Error() string {
	return fmt.Sprintf("the screen crashed: %v", c.value)
}

// Update updates the model; after a panic it only quits.
func (g *crashGuard) Update(msg tea.Msg) (m tea.Model, cmd tea.Cmd) {
	if g.crashed() != nil {
		return g, tea.Quit
	}
	defer func() {
		if r := recover(); r != nil {
			g.record(r)
			m, cmd = g, tea.Quit
		}
	}()
	var next tea.Model
	next, cmd = g.Model.Update(msg)
	if next != nil {
		g.Model = next
	}
	return g, cmd
}

// View returns the model's view, or an empty one after a panic.
func (g *crashGuard) View() (v tea.View) {
	if g.crashed() != nil {
		return v
	}
	defer func() {
		if r := recover(); r != nil {
			g.record(r)
			if g.quit != nil {
				go g.quit() // Quit waits for the event loop, which called View
			}
			v = tea.View{}
		}
	}()
	return g.Model.View()
}

// record keeps the first panic and its stack.
func (g *crashGuard) record(r any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.crash == nil {
		g.crash = &screenCrash{value: r, stack: debug.Stack()}
	}
}

// crashed returns the panic caught, or nil.
func (g *crashGuard) crashed() *screenCrash {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.crash
}

// programFailure says why the program that ran the screen failed, from
// Run's error and the guard's catch, or returns nil if it did not: it ended,
// or was killed because chat is ending (Ctrl+C, the context). A panic,
// caught by the guard or by Bubble Tea (which reports it as killed too, in
// a command's goroutine for example), is a failure.
func programFailure(err error, crash *screenCrash) error {
	switch {
	case crash != nil:
		return crash
	case errors.Is(err, tea.ErrProgramPanic):
		return fmt.Errorf("the screen crashed: %w", err)
	case err != nil && !errors.Is(err, tea.ErrProgramKilled):
		return err
	}
	return nil
}
