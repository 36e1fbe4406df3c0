package room

import (
	"strings"
	"testing"
	"unicode"
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
		{"space run", "hi" + strings.Repeat(" ", 300) + "<bob> forged", "hi <bob> forged"},
		{"leading spaces", "   x", " x"},
		{"mixed white space", "a \t\u00a0\u1680\u2000\u2005\u200a\u202f\u205f\u3000b", "a b"},
		{"nbsp alone", "a\u00a0b", "a b"},
		{"ideographic space", "a\u3000\u3000b", "a b"},
		{"blank braille patterns pad like spaces", "a\u2800\u2800 \u2800b", "a b"},
		{"space around removed controls", "a \x07 \x1b[0m \u200b b", "a b"},
		{"soft hyphen", "pass\u00adword", "password"},
		{"prepended concatenation marks", "a\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f\U000110bd\U000110cd\u0890\u08e2b", "ab"},
		{"zero width", "a\u200b\u200c\u200d\u2060\ufeffb", "ab"},
		{"arabic letter mark and mongolian separator", "a\u061c\u180eb", "ab"},
		{"variation selectors", "\u2764\ufe0f\u2764\U000e0100", "\u2764\u2764"},
		{"hangul fillers", "a\u115f\u1160\u3164\uffa0b", "ab"},
		{"combining grapheme joiner", "a\u034fb", "ab"},
		{"tags", "\U0001f3f4\U000e0067\U000e0062\U000e007f", "\U0001f3f4"},
		{"interlinear annotation", "a\ufff9b\ufffbc", "abc"},
		{"egyptian format controls", "a\U00013430b", "ab"},
		{"unassigned", "a\u0378b", "a\uFFFDb"},
		{"noncharacters", "a\ufdd0\uffffb\U0010fffe", "a\uFFFDb\uFFFD"},
		{"private use", "a\ue000\U000f0000b", "a\uFFFDb"},
		{"combining marks kept", "e\u0301 \u0928\u093f", "e\u0301 \u0928\u093f"},
		{"emoji kept", "\U0001f600 \u4e16", "\U0001f600 \u4e16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Clean(tc.in); got != tc.want {
				t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestCleanCoversTheUnicodeClasses checks Clean against the Unicode tables
// it is defined by, for every code point: what survives is graphic, shown
// by all terminals alike, and white space only as a single ASCII space.
func TestCleanCoversTheUnicodeClasses(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if 0xd800 <= r && r <= 0xdfff {
			continue // surrogates cannot be encoded in UTF-8
		}
		in := "x" + string(r) + "y"
		out := Clean(in)
		var want string
		switch {
		case r == '\x1b', r == 0x9b, r == 0x90, r == 0x98, r == 0x9d, r == 0x9e, r == 0x9f:
			continue // sequence introducers: TestClean
		case r < 0x20 && r != '\t', r == 0x7f, 0x80 <= r && r <= 0x9f, r == 0x2028, r == 0x2029:
			want = "xy"
		case unicode.Is(unicode.White_Space, r), r == brailleBlank:
			want = "x y"
		case unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point, unicode.Prepended_Concatenation_Mark):
			want = "xy"
		case !unicode.IsGraphic(r):
			want = "x\uFFFDy"
		default:
			want = in
		}
		if out != want {
			t.Fatalf("Clean(%+q) = %+q, want %+q", in, out, want)
		}
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
	for _, seed := range []string{"hello", "\x1b[31mx", "\x1b]52;c;YQ==\x07", "\u202e", "\xff", "a\r\nb", "\u009b1m", "a  \u00a0\u3000b", "\u00ad\u0600\U000110bd", "\ufe0f\u200d\u3164", "\u0378\ue000\ufdd0"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Clean(in)
		if !utf8.ValidString(out) {
			t.Fatalf("Clean(%q) = %q is not valid UTF-8", in, out)
		}
		prevSpace := false
		for _, r := range out {
			if isUnsafeRune(r) || isInvisible(r) {
				t.Fatalf("Clean(%q) = %q keeps %U", in, out, r)
			}
			space := unicode.Is(unicode.White_Space, r) || r == brailleBlank
			if space && r != ' ' {
				t.Fatalf("Clean(%q) = %q keeps the white space %U", in, out, r)
			}
			if space && prevSpace {
				t.Fatalf("Clean(%q) = %q keeps a run of white space", in, out)
			}
			if !space && !unicode.IsGraphic(r) {
				t.Fatalf("Clean(%q) = %q keeps %U, which has no agreed glyph", in, out, r)
			}
			prevSpace = space
		}
		if Clean(out) != out {
			t.Fatalf("Clean is not idempotent on %q", in)
		}
		if strings.Count(out, "\uFFFD") > strings.Count(in, "\uFFFD")+len(in) {
			t.Fatalf("too many replacements")
		}
	})
}

func TestInvisibleRangesAreTheTables(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if isInvisible(r) != unicode.In(r, invisibles...) {
			t.Fatalf("isInvisible(%U) = %v, the tables say %v", r, isInvisible(r), !isInvisible(r))
		}
	}
}

// BenchmarkClean measures Clean on plain ASCII chat (returned as is) and on
// text with accents, CJK and emoji (cleaned rune by rune).
func BenchmarkClean(b *testing.B) {
	for _, tc := range []struct{ name, text string }{
		{"ascii", "a line of chat of an ordinary length, about sixty bytes"},
		{"unicode", "héllo wörld, ça va? 世界 🎉 — a line with some non-ASCII text in it"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				Clean(tc.text)
			}
		})
	}
}
