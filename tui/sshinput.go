package tui

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	uv "github.com/charmbracelet/ultraviolet"
	"golang.org/x/time/rate"

	"chatd/room"
)

// Bounds on what one SSH session may type.
const (
	// readRate and readBurst pace reading a session's input, in bytes a
	// second: beyond them the session is not read, so SSH flow control
	// holds the client back, with at most a channel window (2 MiB) waiting
	// at the server. Receiving and filtering a byte costs about 10 ns, so
	// this bounds a flood's cost to about 1% of a core, and a huge paste
	// still arrives at once.
	readRate  = 1 << 20
	readBurst = 1 << 20
	// inputRate and inputBurst bound a session's input in bytes a second:
	// far above any typist, key repeat or mouse wheel, and a burst room for
	// a paste of a whole line. Bytes over the limit are dropped, so a
	// client writing as fast as it can costs the server only this much
	// decoding and this many screen updates.
	inputRate  = 1024
	inputBurst = 8 * 1024
	// maxPasteBytes bounds a bracketed paste: longer ones are cut, and the
	// typist is told. A line longer than the room takes cannot be sent
	// anyway.
	maxPasteBytes = room.DefaultMaxLineBytes
	// inputChunk is how much is read from the session at a time.
	inputChunk = 4096
)

// Bracketed paste markers (DEC mode 2004), which the frame writer turns on.
const (
	pasteStart = "\x1b[200~"
	pasteEnd   = "\x1b[201~"
)

var pasteEndBytes = []byte(pasteEnd)

// keyInput turns a session's bytes into the screen's key, paste and mouse
// messages, in place of Bubble Tea's own input reader. That reader sends
// on the program's message channel without watching the program: once the
// program has ended with keystrokes still pending, its goroutine blocks
// forever. Here ultraviolet's decoder writes to a channel of ours, which is
// read until the decoder has stopped, and messages go to the program with
// Program.Send, which gives up once the program has ended.
//
// Reading is paced (readRate), so that a flood costs the server little
// even before it is dropped. Then bracketed pastes are cut at
// maxPasteBytes (see pasteGuard) and the rest is rate limited (inputRate;
// excess bytes are dropped), so that neither the decoder's buffers nor the
// screen's work grow with what a client sends. The guard comes before the
// limit so that the end of a huge paste is not lost to it.
type keyInput struct {
	src     io.Reader
	pace    *rate.Limiter // raw bytes read, waited for
	limiter *rate.Limiter // bytes decoded, dropped beyond
	paste   pasteGuard
	eof     func() // called once when the session's input ends
	once    sync.Once
	buf     []byte // read from src
	out     []byte // what passed, reused
	pending []byte // of out, not yet returned by Read
	err     error  // src's error, returned once pending is empty

	mu      sync.Mutex
	dropped int64 // bytes dropped by the rate limit
}

// newKeyInput reads src. onCut is told when a paste was cut, onEOF when
// src ends.
func newKeyInput(src io.Reader, onCut func(), onEOF func()) *keyInput {
	return &keyInput{
		src:     src,
		pace:    rate.NewLimiter(readRate, readBurst),
		limiter: rate.NewLimiter(inputRate, inputBurst),
		paste:   pasteGuard{limit: maxPasteBytes, onCut: onCut},
		eof:     onEOF,
		buf:     make([]byte, inputChunk),
		out:     make([]byte, 0, inputChunk+2*len(pasteEnd)),
	}
}

// Read returns the next bytes that pass the rate limit and the paste
// guard, waiting for some if everything read so far was dropped.
func (k *keyInput) Read(b []byte) (int, error) {
	for len(k.pending) == 0 {
		n, err := k.src.Read(k.buf)
		// Pace the next read: the client waits, not the server's memory.
		time.Sleep(k.pace.ReserveN(time.Now(), n).Delay())
		k.out = k.paste.filter(k.out[:0], k.buf[:n])
		k.pending = k.admit(k.out, time.Now())
		if err != nil {
			k.once.Do(k.eof)
			if len(k.pending) == 0 {
				return 0, err
			}
			k.err = err
		}
	}
	n := copy(b, k.pending)
	k.pending = k.pending[n:]
	if len(k.pending) == 0 && k.err != nil {
		return n, k.err
	}
	return n, nil
}

// admit returns the part of p the rate limit lets through at now.
func (k *keyInput) admit(p []byte, now time.Time) []byte {
	allowed := min(len(p), int(k.limiter.TokensAt(now)))
	if allowed > 0 {
		k.limiter.AllowN(now, allowed)
	}
	if dropped := len(p) - allowed; dropped > 0 {
		k.mu.Lock()
		k.dropped += int64(dropped)
		k.mu.Unlock()
	}
	return p[:allowed]
}

// droppedBytes returns how many bytes the rate limit has dropped.
func (k *keyInput) droppedBytes() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.dropped
}

// run decodes the input and sends each message to send until ctx is done
// and the input has stopped, or the input ends. It returns only when the
// decoder's goroutines have all ended.
func (k *keyInput) run(ctx context.Context, term string, send func(tea.Msg)) {
	reader := uv.NewTerminalReader(k, term)
	events := make(chan uv.Event)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = reader.StreamEvents(ctx, events)
	}()
	for {
		select {
		case ev := <-events:
			// After ctx is done, events are still taken, so that the
			// decoder can stop, but no longer sent.
			if msg := inputMsg(ev); msg != nil && ctx.Err() == nil {
				send(msg)
			}
		case <-stopped:
			return
		}
	}
}

// inputMsg translates a decoded event into the message the screen takes,
// or nil for events the screen has no use for.
func inputMsg(ev uv.Event) tea.Msg {
	switch ev := ev.(type) {
	case uv.KeyPressEvent:
		return tea.KeyPressMsg(ev)
	case uv.PasteEvent:
		return tea.PasteMsg(ev)
	case uv.MouseWheelEvent:
		return tea.MouseWheelMsg(ev)
	}
	return nil
}

// pasteGuard cuts bracketed pastes at limit bytes. Bytes outside a paste
// pass through. Inside one, content passes until the limit; then the guard
// ends the paste itself (so the decoder hands over what it has) and drops
// the rest up to the client's end marker, however long that takes, calling
// onCut once per cut paste. A partial end marker is held back until it is
// known to be one, so a cut never splits it.
type pasteGuard struct {
	limit int
	onCut func()

	inPaste bool
	size    int // content bytes of the current paste passed on
	cut     bool
	match   int // bytes of the marker being looked for matched so far
}

// filter appends to out what of in passes, and returns out.
func (g *pasteGuard) filter(out, in []byte) []byte {
	for _, c := range in {
		out = g.step(out, c)
	}
	return out
}

// step takes one byte.
func (g *pasteGuard) step(out []byte, c byte) []byte {
	if !g.inPaste {
		out = append(out, c)
		g.match = advance(pasteStart, g.match, c)
		if g.match == len(pasteStart) {
			g.inPaste, g.size, g.cut, g.match = true, 0, false, 0
		}
		return out
	}
	next := advance(pasteEnd, g.match, c)
	switch {
	case next == len(pasteEnd):
		if !g.cut {
			out = append(out, pasteEnd...)
		}
		g.inPaste, g.match = false, 0
		return out
	case next > g.match:
		g.match = next // held back until it is known to be the end marker
		return out
	}
	// Not (or no longer) an end marker: what was held back is content,
	// and so is c unless it starts a new marker.
	out = g.content(out, pasteEndBytes[:g.match])
	g.match = next
	if next > 0 {
		return out
	}
	return g.content(out, []byte{c})
}

// content passes paste content on until the limit, and cuts the paste there.
func (g *pasteGuard) content(out, s []byte) []byte {
	if g.cut || len(s) == 0 {
		return out
	}
	room := g.limit - g.size
	if len(s) <= room {
		g.size += len(s)
		return append(out, s...)
	}
	out = append(out, s[:room]...)
	g.size = g.limit
	g.cut = true
	if g.onCut != nil {
		g.onCut()
	}
	return append(out, pasteEnd...)
}

// advance returns how many bytes of marker are matched after c, given that
// matched were before. The markers start with ESC and hold no other ESC,
// so a mismatch restarts at c alone.
func advance(marker string, matched int, c byte) int {
	if c == marker[matched] {
		return matched + 1
	}
	if c == marker[0] {
		return 1
	}
	return 0
}

// pasteCutNotice is what the typist is told when a paste was cut.
var pasteCutNotice = fmt.Sprintf("your paste was cut to its first %d bytes (the longest line the room takes)", maxPasteBytes)
