package room

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "hello, world", "hello, world"},
		{"unicode kept", "héllo 世界 🎉", "héllo 世界 🎉"},
		{"tab", "a\tb", "a b"},
		{"carriage return", "hi\r<bob> forged", "hi<bob> forged"},
		{"newline", "one\ntwo", "onetwo"},
		{"bell and nul", "a\x07b\x00c", "abc"},
		{"del", "a\x7fb", "ab"},
		{"csi colour", "\x1b[1;31mred\x1b[0m", "red"},
		{"csi cursor up", "x\x1b[2Ay", "xy"},
		{"osc title bel", "\x1b]0;pwned\x07text", "text"},
		{"osc clipboard st", "\x1b]52;c;ZXZpbA==\x1b\\text", "text"},
		{"osc unterminated", "ok\x1b]0;never ends", "ok"},
		{"dcs", "\x1bPq#0;2;0;0;0\x1b\\after", "after"},
		{"apc", "\x1b_payload\x1b\\after", "after"},
		{"charset escape", "\x1b(Babc", "abc"},
		{"reset escape", "\x1bcabc", "abc"},
		{"lone esc at end", "abc\x1b", "abc"},
		{"c1 csi", "a\u009b31mb", "ab"},
		{"c1 osc", "a\u009d0;title\u009cb", "ab"},
		{"c1 nel", "a\u0085b", "ab"},
		{"bidi override", "abc\u202Etxt.exe", "abctxt.exe"},
		{"bidi isolate", "\u2066x\u2069", "x"},
		{"line separator", "a\u2028b", "ab"},
		{"invalid utf8", "a\xff\xfeb", "a\uFFFDb"},
		{"truncated utf8", "a\xe4\xb8", "a\uFFFD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Clean(tc.in); got != tc.want {
				t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCleanPlainTextDoesNotAllocate(t *testing.T) {
	s := "just a normal line of chat"
	if n := testing.AllocsPerRun(100, func() { Clean(s) }); n != 0 {
		t.Errorf("Clean allocated %v times on plain ASCII", n)
	}
}

// FuzzClean checks that nothing survives Clean that could drive a terminal.
func FuzzClean(f *testing.F) {
	for _, seed := range []string{"hello", "\x1b[31mx", "\x1b]52;c;YQ==\x07", "\u202e", "\xff", "a\r\nb", "\u009b1m"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Clean(in)
		if !utf8.ValidString(out) {
			t.Fatalf("Clean(%q) = %q is not valid UTF-8", in, out)
		}
		for _, r := range out {
			if isUnsafeRune(r) {
				t.Fatalf("Clean(%q) = %q keeps %U", in, out, r)
			}
		}
		if Clean(out) != out {
			t.Fatalf("Clean is not idempotent on %q", in)
		}
		if strings.Count(out, "\uFFFD") > strings.Count(in, "\uFFFD")+len(in) {
			t.Fatalf("too many replacements")
		}
	})
}
