package tlsgw

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrNoNewline is returned when a client sends more than the reader's limit
// without ending a line: a client gone wrong, or one trying to make the
// server buffer without bound.
var ErrNoNewline = errors.New("too much input without a newline")

// initialReadBuffer is a line reader's first buffer. It grows, up to the
// reader's limit, only for a longer line, so an idle connection costs little.
const initialReadBuffer = 256

// lineReader reads LF- or CRLF-terminated lines into a buffer that starts
// small and never exceeds max bytes.
type lineReader struct {
	r          io.Reader
	buf        []byte
	start, end int // the unread bytes are buf[start:end]
	max        int
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: r, buf: make([]byte, min(initialReadBuffer, max)), max: max}
}

// ReadLine returns the next line without its line ending. A final line
// without a newline at EOF is returned too.
func (l *lineReader) ReadLine() (string, error) {
	for {
		if i := bytes.IndexByte(l.buf[l.start:l.end], '\n'); i >= 0 {
			line := l.buf[l.start : l.start+i]
			l.start += i + 1
			return string(bytes.TrimSuffix(line, []byte{'\r'})), nil
		}
		if err := l.makeRoom(); err != nil {
			return "", err
		}
		n, err := l.r.Read(l.buf[l.end:])
		l.end += n
		if err != nil {
			if errors.Is(err, io.EOF) && l.end > l.start {
				line := l.buf[l.start:l.end]
				l.start = l.end
				return string(bytes.TrimSuffix(line, []byte{'\r'})), nil
			}
			return "", err
		}
	}
}

// makeRoom makes space after the unread bytes: it moves them to the front,
// or doubles the buffer up to max, or reports that the line is too long.
func (l *lineReader) makeRoom() error {
	if l.end < len(l.buf) {
		return nil
	}
	if l.start > 0 {
		l.end = copy(l.buf, l.buf[l.start:l.end])
		l.start = 0
		return nil
	}
	if len(l.buf) >= l.max {
		return fmt.Errorf("%w (%d bytes)", ErrNoNewline, l.end)
	}
	grown := make([]byte, min(2*len(l.buf), l.max))
	copy(grown, l.buf[:l.end])
	l.buf = grown
	return nil
}
