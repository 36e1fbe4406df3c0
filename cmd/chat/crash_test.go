package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// panicky is a screen model that panics in Update on a "boom" message, or
// in View once told to.
type panicky struct{ inView bool }

type boomMsg struct{}

func (p *panicky) Init() tea.Cmd { return func() tea.Msg { return boomMsg{} } }

func (p *panicky) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if _, ok := msg.(boomMsg); ok && !p.inView {
		panic("boom in Update")
	}
	return p, nil
}

func (p *panicky) View() tea.View {
	if p.inView {
		panic("boom in View")
	}
	return tea.View{}
}

// runModel runs model in a program with no terminal and returns Run's error.
func runModel(ctx context.Context, model tea.Model, guard *crashGuard) error {
	p := tea.NewProgram(model, tea.WithContext(ctx), tea.WithInput(nil), tea.WithOutput(io.Discard),
		tea.WithoutRenderer(), tea.WithoutSignalHandler(), tea.WithWindowSize(80, 24))
	if guard != nil {
		guard.quit = p.Quit
	}
	_, err := p.Run()
	return err
}

// TestScreenCrashIsAFailure: a panic in the screen ends the program, and
// chat takes it for a failure (exit 1, with what crashed and where), never
// for the user leaving: whether the guard caught it in Update or View
// (with its stack), or Bubble Tea did (its ErrProgramKilled wraps
// ErrProgramPanic). A program killed because chat is ending is no failure.
func TestScreenCrashIsAFailure(t *testing.T) {
	for _, inView := range []bool{false, true} {
		guard := &crashGuard{Model: &panicky{inView: inView}}
		err := runModel(t.Context(), guard, guard)
		crash := guard.crashed()
		if crash == nil {
			t.Fatalf("inView %v: the guard caught nothing; Run returned %v", inView, err)
		}
		failure := programFailure(err, crash)
		if failure == nil || !strings.Contains(failure.Error(), "the screen crashed: boom in") {
			t.Errorf("inView %v: failure %v", inView, failure)
		}
		if !strings.Contains(string(crash.stack), "panicky") {
			t.Errorf("inView %v: the stack does not say where:\n%s", inView, crash.stack)
		}
	}

	err := runModel(t.Context(), &panicky{}, nil) // caught by Bubble Tea
	if !errors.Is(err, tea.ErrProgramKilled) || !errors.Is(err, tea.ErrProgramPanic) {
		t.Fatalf("Run returned %v, want killed by a panic", err)
	}
	if failure := programFailure(err, nil); failure == nil {
		t.Errorf("a panic caught by Bubble Tea is taken for leaving: %v", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = runModel(ctx, &crashGuard{Model: &quiet{}}, nil)
	if !errors.Is(err, tea.ErrProgramKilled) {
		t.Fatalf("Run returned %v, want killed", err)
	}
	if failure := programFailure(err, nil); failure != nil {
		t.Errorf("ending chat is taken for a failure: %v", failure)
	}
}

// quiet is a model that does nothing.
type quiet struct{}

func (quiet) Init() tea.Cmd                         { return nil }
func (q quiet) Update(tea.Msg) (tea.Model, tea.Cmd) { return q, nil }
func (quiet) View() tea.View                        { return tea.View{} }
