package tui

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"chatd/room"
)

// BenchmarkMessage measures what one new message costs one screen: the
// update and the frame, with a full scrollback and a member list.
func BenchmarkMessage(b *testing.B) {
	c := newFakeConn("alice")
	m := New(Options{Conn: c, Location: time.UTC})
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	nicks := make([]string, 100)
	for i := range nicks {
		nicks[i] = fmt.Sprintf("user%d", i)
	}
	feed(m, &room.Event{Kind: room.Members, Nicks: nicks, Time: t0})
	for i := range DefaultScrollback {
		feed(m, chat(nicks[i%100], fmt.Sprintf("message %d: the quick brown fox jumps over the lazy dog, alice", i)))
	}
	m.View()
	evs := make([]*room.Event, 64)
	for i := range evs {
		evs[i] = chat(nicks[i], fmt.Sprintf("new message %d, a little longer than the others so that it wraps on a hundred column screen", i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		feed(m, evs[i%len(evs)])
		_ = m.View()
	}
}

// signalWriter discards output, counts its bytes and signals each write.
type signalWriter struct {
	wrote chan struct{}
	bytes atomic.Int64
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.bytes.Add(int64(len(p)))
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

// BenchmarkScreenFrame measures a whole chat screen as a program runs it:
// one message in, one frame out. "frameWriter" is how SSH sessions and
// cmd/chat draw (Bubble Tea without its renderer, frames by frameWriter);
// "bubbletea" is Bubble Tea's own renderer, the baseline. It reports the
// CPU time per message (cpu-µs/msg) and the bytes sent per frame; wall
// time per operation is mostly the wait for the next frame.
func BenchmarkScreenFrame(b *testing.B) {
	b.Run("frameWriter", func(b *testing.B) {
		benchmarkScreenFrame(b, func(m *Model, out *signalWriter) *tea.Program {
			screen := NewFramed(m, out, time.Second/120)
			screen.Start()
			return tea.NewProgram(screen, tea.WithoutRenderer(),
				tea.WithInput(nil), tea.WithOutput(out), tea.WithWindowSize(100, 30),
				tea.WithEnvironment([]string{"TERM=xterm-256color"}), tea.WithoutSignalHandler())
		})
	})
	b.Run("bubbletea", func(b *testing.B) {
		benchmarkScreenFrame(b, func(m *Model, out *signalWriter) *tea.Program {
			return tea.NewProgram(m,
				tea.WithInput(nil), tea.WithOutput(out), tea.WithWindowSize(100, 30),
				tea.WithEnvironment([]string{"TERM=xterm-256color"}), tea.WithoutSignalHandler(), tea.WithFPS(120))
		})
	})
}

func benchmarkScreenFrame(b *testing.B, program func(*Model, *signalWriter) *tea.Program) {
	c := newFakeConn("alice")
	out := &signalWriter{wrote: make(chan struct{}, 1)}
	p := program(New(Options{Conn: c, Location: time.UTC}), out)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = p.Run()
	}()
	nicks := make([]string, 30)
	for i := range nicks {
		nicks[i] = fmt.Sprintf("user%d", i)
	}
	p.Send(EventsMsg{Events: []*room.Event{{Kind: room.Members, Nicks: nicks, Time: t0}}})
	for i := range 200 {
		p.Send(EventsMsg{Events: []*room.Event{chat(nicks[i%30], fmt.Sprintf("message %d: the quick brown fox jumps over the lazy dog", i))}})
		if i%50 == 0 {
			<-out.wrote
		}
	}
	time.Sleep(50 * time.Millisecond)
	start := cpuTime()
	bytesBefore := out.bytes.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for len(out.wrote) > 0 {
			<-out.wrote
		}
		p.Send(EventsMsg{Events: []*room.Event{chat(nicks[i%30], fmt.Sprintf("new message %d, a little longer than the others so that it wraps on a hundred column screen", i))}})
		<-out.wrote
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(float64(out.bytes.Load()-bytesBefore)/float64(b.N), "bytes/frame")
	p.Quit()
	<-done
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkResize measures a width change with a full scrollback: what one
// window-change request from a client costs the server.
func BenchmarkResize(b *testing.B) {
	m := New(Options{Conn: newFakeConn("alice"), Location: time.UTC})
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	for i := range DefaultScrollback {
		feed(m, chat("bob", fmt.Sprintf("message %d: long enough to wrap once or twice on a narrow screen, the quick brown fox", i)))
	}
	b.ResetTimer()
	for i := range b.N {
		m.Update(tea.WindowSizeMsg{Width: 80 + i%40, Height: 30})
		m.View()
	}
}
