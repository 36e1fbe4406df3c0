package room

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Clean makes text safe to show on someone else's terminal, on one line,
// where every terminal agrees on how wide it is:
//
//   - Terminal escape sequences (CSI, OSC, DCS, SOS, PM, APC and two-byte
//     escapes) are removed whole; other C0 controls, DEL, C1 controls and the
//     line and paragraph separators U+2028 and U+2029 are removed, so the
//     text is one line.
//   - Every run of other white space (Unicode White_Space: tab, space, NBSP,
//     U+1680, U+2000-U+200A, U+202F, U+205F, U+3000; and U+2800, the blank
//     braille pattern, which draws as one) becomes one ASCII space, so no
//     padding can push text to where another line would start.
//   - Characters that draw nothing or whose width terminals disagree on are
//     removed: format characters (Cf: bidirectional controls, soft hyphen,
//     zero-width space and joiners, prepended concatenation marks such as
//     U+0600 and U+110BD, tags), variation selectors and the other default
//     ignorables (Hangul fillers, the combining grapheme joiner).
//   - Code points with no agreed glyph become U+FFFD: unassigned ones (in
//     this Go's Unicode version), noncharacters and private use ones; so does
//     invalid UTF-8. A run of them becomes one U+FFFD.
//
// Text that needs no cleaning is returned as is, without allocating.
// Clean(Clean(s)) == Clean(s).
func Clean(s string) string {
	if isCleanASCII(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if n := visibleASCII(s[i:]); n > 0 { // the common case, copied whole
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		next := i + size
		switch {
		case r == utf8.RuneError && size <= 1:
			writeReplacement(&b)
		case r == 0x1b: // ESC
			next += escapeLen(s[next:])
		case r == 0x9b: // one-character CSI
			next += csiLen(s[next:])
		case r == 0x90 || r == 0x98 || r == 0x9d || r == 0x9e || r == 0x9f: // DCS SOS OSC PM APC
			next += controlStringLen(s[next:])
		default:
			writeRune(&b, s[i:next], r)
		}
		i = next
	}
	return b.String()
}

// runeClass says what Clean does with a rune.
type runeClass uint8

const (
	keepRune    runeClass = iota // shown as is
	spaceRune                    // white space: one space per run
	dropRune                     // removed: controls, invisible or width-ambiguous
	replaceRune                  // shown as U+FFFD: no agreed glyph
)

// writeRune writes the rune r, encoded as enc, the way its class says.
func writeRune(b *strings.Builder, enc string, r rune) {
	switch classify(r) {
	case keepRune:
		b.WriteString(enc)
	case spaceRune:
		if !strings.HasSuffix(b.String(), " ") {
			b.WriteByte(' ')
		}
	case replaceRune:
		writeReplacement(b)
	}
}

// classify sorts a rune (not ESC or an introducer of a C1 sequence, which
// Clean handles first) into its runeClass, from the Unicode data.
func classify(r rune) runeClass {
	switch {
	case r < 0x80:
		switch {
		case r == ' ' || r == '\t':
			return spaceRune
		case r < 0x20 || r == 0x7f:
			return dropRune
		}
		return keepRune
	case isUnsafeRune(r): // C1 controls, line breaks, bidi controls
		return dropRune
	case unicode.Is(unicode.White_Space, r), r == brailleBlank:
		return spaceRune
	case isInvisible(r):
		return dropRune
	case r == utf8.RuneError:
		return replaceRune // keeps a run of them to one
	case !unicode.IsGraphic(r): // unassigned, noncharacter, private use, surrogate
		return replaceRune
	}
	return keepRune
}

// brailleBlank, U+2800 BRAILLE PATTERN BLANK, is a symbol (So), not white
// space, but every font draws it as an empty cell: left alone it would pad
// a line as spaces do. It is the one such character the Unicode data gives
// no property for, so it is named here.
const brailleBlank = '\u2800'

// invisibles are the tables of characters Clean removes because they draw
// nothing on some terminals and a cell or two on others. Together they are
// Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt: Cf,
// variation selectors and Other_Default_Ignorable_Code_Point), plus the
// prepended concatenation marks and the format characters that property
// leaves out (U+FFF9-U+FFFB, U+13430-U+1343F), which terminals disagree on
// just the same: tmux 3.3 draws U+00AD and U+0600 one cell wide, where
// wcwidth-style measures count zero.
var invisibles = []*unicode.RangeTable{
	unicode.Cf,
	unicode.Variation_Selector,
	unicode.Other_Default_Ignorable_Code_Point,
	unicode.Prepended_Concatenation_Mark,
}

// invisibleRanges are invisibles merged into sorted, disjoint ranges, so
// that a rune takes one binary search rather than one per table.
var invisibleRanges = mergeTables(invisibles)

// runeRange is the code points lo to hi, inclusive.
type runeRange struct{ lo, hi rune }

// mergeTables returns the code points of tables as sorted, disjoint ranges.
func mergeTables(tables []*unicode.RangeTable) []runeRange {
	var all []runeRange
	add := func(lo, hi, stride rune) {
		if stride == 1 {
			all = append(all, runeRange{lo, hi})
			return
		}
		for r := lo; r <= hi; r += stride {
			all = append(all, runeRange{r, r})
		}
	}
	for _, t := range tables {
		for _, r := range t.R16 {
			add(rune(r.Lo), rune(r.Hi), rune(r.Stride))
		}
		for _, r := range t.R32 {
			add(rune(r.Lo), rune(r.Hi), rune(r.Stride))
		}
	}
	slices.SortFunc(all, func(a, b runeRange) int { return cmp.Compare(a.lo, b.lo) })
	merged := all[:0]
	for _, r := range all {
		if n := len(merged); n > 0 && r.lo <= merged[n-1].hi+1 {
			merged[n-1].hi = max(merged[n-1].hi, r.hi)
			continue
		}
		merged = append(merged, r)
	}
	return slices.Clip(merged)
}

// isInvisible reports whether Clean removes r as invisible or of disputed
// width: whether it is in one of invisibles.
func isInvisible(r rune) bool {
	_, found := slices.BinarySearchFunc(invisibleRanges, r, func(rr runeRange, r rune) int {
		switch {
		case rr.hi < r:
			return -1
		case rr.lo > r:
			return 1
		}
		return 0
	})
	return found
}

// visibleASCII returns how many bytes at the start of s are printable
// ASCII other than the space.
func visibleASCII(s string) int {
	n := 0
	for n < len(s) && 0x20 < s[n] && s[n] < 0x7f {
		n++
	}
	return n
}

// isCleanASCII reports whether s holds only printable ASCII with no two
// spaces in a row, which Clean leaves as it is.
func isCleanASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == ' ' && i > 0 && s[i-1] == ' ' {
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
