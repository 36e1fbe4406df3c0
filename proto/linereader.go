package proto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// ErrNoNewline is returned when a client sends more than the reader's limit
// without ending a line: a client gone wrong, or one trying to make the
// server buffer without bound.
var ErrNoNewline = errors.New("too much input without a newline")

// ErrLineTooLong is returned by ReadLineCut for a line that runs on past
// what it may cut: a peer that sends a line without end.
var ErrLineTooLong = errors.New("line too long")

// initialReadBuffer is a line reader's first buffer. It grows, up to the
// reader's limit, only for a longer line, so an idle connection costs little.
const initialReadBuffer = 256

// LineReader reads LF- or CRLF-terminated lines into a buffer that starts
// small and never exceeds max bytes.
type LineReader struct {
	r          io.Reader
	buf        []byte
	start, end int // the unread bytes are buf[start:end]
	max        int
}

// NewLineReader returns a LineReader of r whose lines are at most max bytes.
func NewLineReader(r io.Reader, max int) *LineReader {
	return &LineReader{r: r, buf: make([]byte, min(initialReadBuffer, max)), max: max}
}

// ReadLine returns the next line without its line ending. A final line
// without a newline at EOF is returned too. A line longer than the
// reader's limit is an error, ErrNoNewline.
func (l *LineReader) ReadLine() (string, error) {
	line, whole, err := l.readLine()
	if err == nil && !whole {
		return "", fmt.Errorf("%w (%d bytes)", ErrNoNewline, len(line))
	}
	return string(line), err
}

// ReadLineCut is ReadLine for a peer whose long lines are cut rather than
// refused: a line longer than the reader's limit comes back cut to it, at
// a character boundary, and cut says how many bytes of it were dropped.
// The dropped part is read and thrown away, so it costs no memory; only a
// line that runs on for more than maxCut bytes past the limit is an error,
// ErrLineTooLong.
func (l *LineReader) ReadLineCut(maxCut int) (line string, cut int, err error) {
	b, whole, err := l.readLine()
	if err != nil || whole {
		return string(b), 0, err
	}
	kept := wholeRunes(b)
	line = string(kept) // before dropLine reuses the buffer
	dropped, err := l.dropLine(maxCut - (len(b) - len(kept)))
	return line, len(b) - len(kept) + dropped, err
}

// readLine returns the next line without its line ending, or, with whole
// false, the first max bytes of a longer line, consumed. The bytes are the
// buffer's, valid until the next read.
func (l *LineReader) readLine() (line []byte, whole bool, err error) {
	for {
		if i := bytes.IndexByte(l.buf[l.start:l.end], '\n'); i >= 0 {
			line = l.buf[l.start : l.start+i]
			l.start += i + 1
			return bytes.TrimSuffix(line, []byte{'\r'}), true, nil
		}
		if !l.makeRoom() {
			line = l.buf[l.start:l.end]
			l.start = l.end
			return line, false, nil
		}
		n, err := l.r.Read(l.buf[l.end:])
		l.end += n
		if err != nil {
			if errors.Is(err, io.EOF) && l.end > l.start {
				line = l.buf[l.start:l.end]
				l.start = l.end
				return bytes.TrimSuffix(line, []byte{'\r'}), true, nil
			}
			return nil, false, err
		}
	}
}

// dropLine reads and throws away the rest of a line, through its newline or
// EOF, and returns how many bytes that was. It stops with ErrLineTooLong
// once more than limit bytes were thrown away.
func (l *LineReader) dropLine(limit int) (int, error) {
	dropped := 0
	var readErr error
	for {
		if i := bytes.IndexByte(l.buf[l.start:l.end], '\n'); i >= 0 {
			l.start += i + 1
			return dropped + i, nil
		}
		dropped += l.end - l.start
		l.start, l.end = 0, 0
		switch {
		case dropped > limit:
			return dropped, fmt.Errorf("%w: over %d bytes", ErrLineTooLong, limit)
		case errors.Is(readErr, io.EOF):
			return dropped, nil // the line ended with the stream
		case readErr != nil:
			return dropped, readErr
		}
		l.end, readErr = l.r.Read(l.buf)
	}
}

// wholeRunes returns b without a UTF-8 sequence cut short at its end.
func wholeRunes(b []byte) []byte {
	for i := len(b) - 1; i >= max(0, len(b)-utf8.UTFMax); i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return b
			}
			return b[:i]
		}
	}
	return b
}

// makeRoom makes space after the unread bytes: it moves them to the front,
// or doubles the buffer up to max. It reports false when the buffer is
// full of one line already.
func (l *LineReader) makeRoom() bool {
	if l.end < len(l.buf) {
		return true
	}
	if l.start > 0 {
		l.end = copy(l.buf, l.buf[l.start:l.end])
		l.start = 0
		return true
	}
	if len(l.buf) >= l.max {
		return false
	}
	grown := make([]byte, min(2*len(l.buf), l.max))
	copy(grown, l.buf[:l.end])
	l.buf = grown
	return true
}
