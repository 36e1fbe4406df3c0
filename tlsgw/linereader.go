package tlsgw

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// ErrNoNewline is returned when a client sends more than the reader's buffer
// without ending a line: a client gone wrong, or one trying to make the
// server buffer without bound.
var ErrNoNewline = errors.New("too much input without a newline")

// lineReader reads LF- or CRLF-terminated lines with a fixed buffer.
type lineReader struct {
	r *bufio.Reader
}

func newLineReader(r io.Reader, size int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, size)}
}

// ReadLine returns the next line without its line ending. The returned
// string is a copy. A final line without a newline at EOF is returned too.
func (l *lineReader) ReadLine() (string, error) {
	b, err := l.r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return "", fmt.Errorf("%w (%d bytes)", ErrNoNewline, len(b))
	case errors.Is(err, io.EOF) && len(b) > 0:
		err = nil
	case err != nil:
		return "", err
	}
	n := len(b)
	if n > 0 && b[n-1] == '\n' {
		n--
	}
	if n > 0 && b[n-1] == '\r' {
		n--
	}
	return string(b[:n]), err
}
