package room

import (
	"strings"
	"unicode/utf8"
)

// Clean makes text safe to show on someone else's terminal, on one line.
// Tabs become spaces; other C0 controls, DEL, C1 controls, line and paragraph
// separators and bidirectional overrides and isolates are removed; terminal
// escape sequences (CSI, OSC, DCS, SOS, PM, APC and two-byte escapes) are
// removed whole; invalid UTF-8 becomes U+FFFD. Text that needs no cleaning is
// returned as is, without allocating.
func Clean(s string) string {
	if isPlainASCII(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			writeReplacement(&b)
			i += size
		case r == '\t':
			b.WriteByte(' ')
			i += size
		case r == 0x1b: // ESC
			i += size + escapeLen(s[i+size:])
		case r == 0x9b: // one-character CSI
			i += size + csiLen(s[i+size:])
		case r == 0x90 || r == 0x98 || r == 0x9d || r == 0x9e || r == 0x9f: // DCS SOS OSC PM APC
			i += size + controlStringLen(s[i+size:])
		case isUnsafeRune(r):
			i += size
		default:
			b.WriteString(s[i : i+size])
			i += size
		}
	}
	return b.String()
}

// isPlainASCII reports whether s holds only printable ASCII.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// writeReplacement writes U+FFFD unless the text already ends with one, so a
// run of invalid bytes becomes a single replacement character.
func writeReplacement(b *strings.Builder) {
	if strings.HasSuffix(b.String(), "\uFFFD") {
		return
	}
	b.WriteRune(utf8.RuneError)
}

// isUnsafeRune reports whether r is a control or formatting character that
// could move the cursor, reorder text or start a new line on a terminal.
func isUnsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, 0x80 <= r && r <= 0x9f:
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	case 0x202a <= r && r <= 0x202e, 0x2066 <= r && r <= 0x2069: // bidi overrides, isolates
		return true
	}
	return false
}

// escapeLen returns how many bytes after an ESC belong to its sequence.
func escapeLen(s string) int {
	if s == "" {
		return 0
	}
	switch c := s[0]; {
	case c == '[':
		return 1 + csiLen(s[1:])
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		return 1 + controlStringLen(s[1:])
	case 0x20 <= c && c <= 0x2f: // intermediates, then one final byte
		n := 1
		for n < len(s) && 0x20 <= s[n] && s[n] <= 0x2f {
			n++
		}
		if n < len(s) && 0x30 <= s[n] && s[n] <= 0x7e {
			n++
		}
		return n
	case 0x30 <= c && c <= 0x7e: // two-byte escape such as ESC c or ESC 7
		return 1
	}
	return 0
}

// csiLen returns the length of a control sequence's parameters, intermediates
// and final byte.
func csiLen(s string) int {
	n := 0
	for n < len(s) && 0x20 <= s[n] && s[n] <= 0x3f {
		n++
	}
	if n < len(s) && 0x40 <= s[n] && s[n] <= 0x7e {
		n++
	}
	return n
}

// controlStringLen returns the length of an OSC, DCS, SOS, PM or APC string up
// to and including its terminator (BEL, ESC \ or the one-character ST). An
// unterminated string runs to the end of s.
func controlStringLen(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 0x07:
			return i + 1
		case 0x1b:
			if i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
		case 0xc2: // UTF-8 lead byte of U+009C, the one-character ST
			if i+1 < len(s) && s[i+1] == 0x9c {
				return i + 2
			}
		}
	}
	return len(s)
}
