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
	keys    keyFilter     // what passes to the decoder
	eof     func()        // called once when the session's input ends
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
		src:  src,
		pace: rate.NewLimiter(readRate, readBurst),
		keys: keyFilter{limiter: rate.NewLimiter(inputRate, inputBurst), limit: maxPasteBytes, onCut: onCut},
		eof:  onEOF,
		buf:  make([]byte, inputChunk),
		out:  make([]byte, 0, inputChunk+2*len(pasteEnd)),
	}
}

// Read returns the next bytes that pass the rate limit and the paste
// guard, waiting for some if everything read so far was dropped.
func (k *keyInput) Read(b []byte) (int, error) {
	for len(k.pending) == 0 {
		n, err := k.src.Read(k.buf)
		// Pace the next read: the client waits, not the server's memory.
		time.Sleep(k.pace.ReserveN(time.Now(), n).Delay())
		k.out = k.keys.filter(k.out[:0], k.buf[:n], time.Now())
		k.pending = k.out
		k.countDropped()
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

// countDropped adds what the filter dropped to the count.
func (k *keyInput) countDropped() {
	if k.keys.dropped == 0 {
		return
	}
	k.mu.Lock()
	k.dropped += int64(k.keys.dropped)
	k.mu.Unlock()
	k.keys.dropped = 0
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

// keyFilter decides, unit by unit (see sequencer), what of a session's
// input reaches the key decoder:
//
//   - Outside a paste, a unit passes if the rate limit has room for it and
//     is dropped whole otherwise, so no key or sequence is ever split.
//   - A bracketed paste is one unit for the rate limit: it passes whole if
//     the limit was not in debt when it began, and is charged for its size
//     when it ends; otherwise it is dropped whole, markers included, so the
//     decoder never stays in a paste.
//   - A paste is cut at limit bytes: the filter ends it itself (so the
//     decoder hands over what it has) and drops the rest up to the client's
//     end marker, however long that takes, calling onCut once.
type keyFilter struct {
	seq     sequencer
	limiter *rate.Limiter
	limit   int
	onCut   func()

	inPaste  bool
	dropping bool // the current paste is dropped whole
	cut      bool // the current paste was cut
	size     int  // content bytes of the current paste passed on
	dropped  int  // bytes dropped by the rate limit, since the last take
}

// filter appends to out what of in passes at now, and returns out.
func (f *keyFilter) filter(out, in []byte, now time.Time) []byte {
	f.seq.feed(in, func(kind unitKind, u []byte) { out = f.unit(out, kind, u, now) })
	return out
}

// unit appends u to out if it passes.
func (f *keyFilter) unit(out []byte, kind unitKind, u []byte, now time.Time) []byte {
	switch {
	case kind == unitPasteStart:
		if f.inPaste {
			return out // the decoder ignores a start inside a paste
		}
		f.inPaste, f.cut, f.size = true, false, 0
		f.dropping = f.limiter.TokensAt(now) < 1
		if f.dropping {
			f.dropped += len(u)
			return out
		}
		return append(out, pasteStart...)
	case kind == unitPasteEnd:
		if !f.inPaste {
			return out // an end without a start means nothing
		}
		f.inPaste = false
		if f.dropping {
			return out
		}
		f.limiter.ReserveN(now, min(f.size, f.limiter.Burst())) // the paste's charge, as debt if need be
		if f.cut {
			return out // ended already, when it was cut
		}
		return append(out, pasteEnd...)
	case f.inPaste:
		return f.pasteContent(out, u)
	case !f.limiter.AllowN(now, len(u)):
		f.dropped += len(u)
		return out
	}
	return append(out, u...)
}

// pasteContent passes paste content on until the limit, and cuts the
// paste there.
func (f *keyFilter) pasteContent(out, u []byte) []byte {
	if f.dropping || f.cut {
		return out
	}
	if f.size+len(u) <= f.limit {
		f.size += len(u)
		return append(out, u...)
	}
	f.cut = true
	if f.onCut != nil {
		f.onCut()
	}
	return append(out, pasteEnd...)
}

// pasteCutNotice is what the typist is told when a paste was cut.
var pasteCutNotice = fmt.Sprintf("your paste was cut to its first %d bytes (the longest line the room takes)", maxPasteBytes)
