package sshgw

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
	// a paste of a whole line. Keys over the limit are dropped, so a
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
	// pasteMarkersBytes is what a paste's two markers cost the rate limit.
	pasteMarkersBytes = 12
)

// Bracketed paste markers (DEC mode 2004), which the frame writer turns on.
const (
	pasteStart = "\x1b[200~"
	pasteEnd   = "\x1b[201~"
)

// keyInput turns a session's bytes into the screen's key, paste and mouse
// messages, in place of Bubble Tea's own input reader. That reader sends
// on the program's message channel without watching the program, so once
// the program has ended with keystrokes still pending its goroutine blocks
// forever; and ultraviolet's stream decoder keeps what it cannot decode
// yet, parsing it again at every read, for as long as more keeps coming.
//
// So chatd reads and decodes the keys itself: reading is paced
// (readRate); the bytes are cut into whole units (see sequencer); each
// unit is decoded on its own with ultraviolet's EventDecoder, which keeps
// no state between units, and only the events the screen uses are sent,
// with Program.Send, which gives up once the program has ended. The rate
// limit and the paste cut work on whole units (see keyFilter).
type keyInput struct {
	src    io.Reader
	pace   *rate.Limiter // raw bytes read, waited for
	keys   keyFilter
	onEOF  func() // called when the session's input ends
	buf    []byte // read from src
	mu     sync.Mutex
	counts int64 // bytes dropped by the rate limit, for tests
}

// newKeyInput reads src. onCut is told when a paste was cut, onEOF when
// src ends.
func newKeyInput(src io.Reader, onCut func(), onEOF func()) *keyInput {
	return &keyInput{
		src:   src,
		pace:  rate.NewLimiter(readRate, readBurst),
		keys:  keyFilter{limiter: rate.NewLimiter(inputRate, inputBurst), limit: maxPasteBytes, onCut: onCut},
		onEOF: onEOF,
		buf:   make([]byte, inputChunk),
	}
}

// run reads the session's input and sends each message the screen uses
// to send, until the input ends. Once ctx is done it keeps reading, so
// that the client is never blocked, but sends nothing more.
func (k *keyInput) run(ctx context.Context, send func(tea.Msg)) {
	emit := func(msg tea.Msg) {
		if ctx.Err() == nil {
			send(msg)
		}
	}
	for {
		n, err := k.src.Read(k.buf)
		// Pace the next read: the client waits, not the server's memory.
		time.Sleep(k.pace.ReserveN(time.Now(), n).Delay())
		k.keys.filter(k.buf[:n], n < len(k.buf), time.Now(), emit)
		k.countDropped()
		if err != nil {
			k.onEOF()
			return
		}
	}
}

// countDropped adds what the filter dropped to the count.
func (k *keyInput) countDropped() {
	if k.keys.dropped == 0 {
		return
	}
	k.mu.Lock()
	k.counts += int64(k.keys.dropped)
	k.mu.Unlock()
	k.keys.dropped = 0
}

// droppedBytes returns how many bytes the rate limit has dropped.
func (k *keyInput) droppedBytes() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.counts
}

// keyFilter turns units (see sequencer) into the screen's messages:
//
//   - Outside a paste, a unit passes if the rate limit has room for it and
//     is dropped whole otherwise; it is decoded on its own, and only key
//     presses and mouse wheel turns are sent.
//   - A bracketed paste is gathered and sent as one message at its end. For
//     the rate limit it is one unit: it is taken if the limit was not in
//     debt when it began, and charged for its size when it ends; otherwise
//     it is dropped whole.
//   - A paste is cut at limit bytes: what came so far is sent, onCut is
//     called, and the rest is dropped up to the client's end marker,
//     however long that takes.
type keyFilter struct {
	seq     sequencer
	decoder uv.EventDecoder
	limiter *rate.Limiter
	limit   int
	onCut   func()

	inPaste  bool
	dropping bool   // the current paste is dropped whole
	cut      bool   // the current paste was cut
	paste    []byte // the current paste's text not sent yet
	taken    int    // bytes of the current paste's text taken in all
	dropped  int    // bytes dropped by the rate limit, since the last take
}

// filter decodes in at now and sends each message the screen uses.
// boundary says that in ends where the client's write ended (see
// sequencer.feed).
func (f *keyFilter) filter(in []byte, boundary bool, now time.Time, send func(tea.Msg)) {
	f.seq.feed(in, boundary, func(kind unitKind, u []byte) { f.unit(kind, u, now, send) })
}

// unit handles one unit.
func (f *keyFilter) unit(kind unitKind, u []byte, now time.Time, send func(tea.Msg)) {
	switch {
	case kind == unitPasteStart:
		if !f.inPaste {
			f.inPaste, f.cut, f.paste, f.taken = true, false, f.paste[:0], 0
			f.seq.pasting = true
			f.dropping = f.limiter.TokensAt(now) < 1
		}
	case kind == unitPasteEnd:
		if f.inPaste {
			f.endPaste(now, send)
		}
	case f.inPaste:
		f.pasteText(kind, u, send)
	case !f.limiter.AllowN(now, len(u)):
		f.dropped += len(u)
	default:
		if msg := f.decode(u); msg != nil {
			send(msg)
		}
	}
}

// decode returns the message a unit stands for, or nil if the screen has
// no use for it or the decoder does not take all of it.
func (f *keyFilter) decode(u []byte) tea.Msg {
	n, ev := f.decoder.Decode(u)
	if n != len(u) {
		return nil
	}
	switch ev := ev.(type) {
	case uv.KeyPressEvent:
		return tea.KeyPressMsg(ev)
	case uv.MouseWheelEvent:
		return tea.MouseWheelMsg(ev)
	}
	return nil
}

// pasteText adds a unit of a paste's text until the limit, and cuts the
// paste there. Escape sequences inside a paste are dropped.
func (f *keyFilter) pasteText(kind unitKind, u []byte, send func(tea.Msg)) {
	if f.dropping || f.cut || kind != unitText {
		return
	}
	if f.taken+len(u) <= f.limit {
		f.paste = append(f.paste, u...)
		f.taken += len(u)
		return
	}
	f.cut = true
	f.sendPaste(send)
	if f.onCut != nil {
		f.onCut()
	}
}

// endPaste ends the paste at the client's end marker.
func (f *keyFilter) endPaste(now time.Time, send func(tea.Msg)) {
	f.inPaste, f.seq.pasting = false, false
	if f.dropping {
		return
	}
	// The paste's charge, as debt if need be.
	f.limiter.ReserveN(now, min(f.taken+pasteMarkersBytes, f.limiter.Burst()))
	if !f.cut {
		f.sendPaste(send)
	}
}

// sendPaste sends the paste gathered so far, if it is not empty.
func (f *keyFilter) sendPaste(send func(tea.Msg)) {
	if len(f.paste) > 0 {
		send(tea.PasteMsg{Content: string(f.paste)})
	}
	f.paste = f.paste[:0]
}

// pasteCutNotice is what the typist is told when a paste was cut.
var pasteCutNotice = fmt.Sprintf("your paste was cut to its first %d bytes (the longest line the room takes)", maxPasteBytes)
