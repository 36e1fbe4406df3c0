package tlsgw

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", 1000)
	in := "one\r\ntwo\n" + long + "\nlast"
	// OneByteReader makes every boundary case happen: partial lines,
	// compaction and growth.
	for name, r := range map[string]io.Reader{"whole": strings.NewReader(in), "byte by byte": iotest.OneByteReader(strings.NewReader(in))} {
		l := newLineReader(r, 2048)
		var got []string
		for {
			line, err := l.ReadLine()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("%s: %v", name, err)
				}
				break
			}
			got = append(got, line)
		}
		if strings.Join(got, "|") != "one|two|"+long+"|last" {
			t.Errorf("%s: lines %q", name, got)
		}
		if len(l.buf) > 2048 {
			t.Errorf("%s: buffer grew to %d", name, len(l.buf))
		}
	}
}

func TestLineReaderStopsAtItsLimit(t *testing.T) {
	l := newLineReader(strings.NewReader(strings.Repeat("y", 5000)+"\n"), 4096)
	if _, err := l.ReadLine(); !errors.Is(err, ErrNoNewline) {
		t.Errorf("5000 bytes without a newline: %v, want ErrNoNewline", err)
	}
	if len(l.buf) != 4096 {
		t.Errorf("buffer is %d bytes, want the 4096 limit", len(l.buf))
	}
}

func TestLineReaderStartsSmall(t *testing.T) {
	l := newLineReader(strings.NewReader("hi\n"), 4096)
	l.ReadLine()
	if len(l.buf) != initialReadBuffer {
		t.Errorf("an idle reader holds %d bytes", len(l.buf))
	}
}
