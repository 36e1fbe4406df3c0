package proto

import (
	"errors"
	"io"
	"slices"
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
		l := NewLineReader(r, 2048)
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
	l := NewLineReader(strings.NewReader(strings.Repeat("y", 5000)+"\n"), 4096)
	if _, err := l.ReadLine(); !errors.Is(err, ErrNoNewline) {
		t.Errorf("5000 bytes without a newline: %v, want ErrNoNewline", err)
	}
	if len(l.buf) != 4096 {
		t.Errorf("buffer is %d bytes, want the 4096 limit", len(l.buf))
	}
}

func TestLineReaderStartsSmall(t *testing.T) {
	l := NewLineReader(strings.NewReader("hi\n"), 4096)
	l.ReadLine()
	if len(l.buf) != initialReadBuffer {
		t.Errorf("an idle reader holds %d bytes", len(l.buf))
	}
}

// FuzzLineReader feeds arbitrary input, in arbitrary chunks, and checks
// that lines never hold a newline, the buffer never passes its limit, and
// the lines read are the input's, in order.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("one\r\ntwo\nthree"), uint8(3))
	f.Add([]byte(strings.Repeat("x", 600)+"\n"), uint8(1))
	f.Add([]byte("\n\n\r\n"), uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		const limit = 512
		l := NewLineReader(iotest.HalfReader(&chunkReader{b: in, n: int(chunk)%7 + 1}), limit)
		var got []string
		for {
			line, err := l.ReadLine()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrNoNewline) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if strings.Contains(line, "\n") || len(line) > limit {
				t.Fatalf("bad line %q", line)
			}
			got = append(got, line)
		}
		if len(l.buf) > limit {
			t.Fatalf("buffer grew to %d", len(l.buf))
		}
		want := strings.Split(strings.TrimSuffix(string(in), "\n"), "\n")
		for i, line := range got {
			if i >= len(want) || strings.TrimSuffix(want[i], "\r") != line {
				t.Fatalf("line %d = %q, input lines %q", i, line, want)
			}
		}
	})
}

// chunkReader returns its bytes n at a time.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[n:]
	return n, nil
}

func TestReadLineCutKeepsTheStartOfALongLine(t *testing.T) {
	// "é" is two bytes; the limit falls between them.
	long := strings.Repeat("x", 9) + "é" + strings.Repeat("y", 100)
	in := "short\n" + long + "\r\nnext\nlast"
	for name, r := range map[string]io.Reader{"whole": strings.NewReader(in), "byte by byte": iotest.OneByteReader(strings.NewReader(in))} {
		l := NewLineReader(r, 10)
		type result struct {
			line string
			cut  int
		}
		var got []result
		for {
			line, cut, err := l.ReadLineCut(1000)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got = append(got, result{line, cut})
		}
		want := []result{{"short", 0}, {strings.Repeat("x", 9), len(long) + 1 - 9}, {"next", 0}, {"last", 0}}
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %+v, want %+v", name, got, want)
		}
		if len(l.buf) > 10 {
			t.Errorf("%s: buffer grew to %d", name, len(l.buf))
		}
	}
}

func TestReadLineCutGivesUpOnAnEndlessLine(t *testing.T) {
	endless := io.MultiReader(strings.NewReader("ok\n"), iotest.HalfReader(&repeatReader{b: 'z'}))
	l := NewLineReader(endless, 64)
	if line, cut, err := l.ReadLineCut(1000); line != "ok" || cut != 0 || err != nil {
		t.Fatalf("first line: %q, %d, %v", line, cut, err)
	}
	line, cut, err := l.ReadLineCut(1000)
	if !errors.Is(err, ErrLineTooLong) || line != strings.Repeat("z", 64) || cut <= 1000 || cut > 1000+64 {
		t.Errorf("endless line: %q, cut %d, %v; want its first 64 bytes, a cut just over 1000 and ErrLineTooLong", line, cut, err)
	}
	if len(l.buf) > 64 {
		t.Errorf("buffer grew to %d", len(l.buf))
	}
}

// repeatReader yields the byte b forever.
type repeatReader struct{ b byte }

func (r *repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.b
	}
	return len(p), nil
}
