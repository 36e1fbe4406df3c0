package room

import "strings"

// Nicknames are compared by a skeleton: two nicknames with the same
// skeleton look alike, and the room holds at most one of them.
//
// The table below is Unicode's confusables data (UTS #39,
// https://www.unicode.org/Public/security/latest/confusables.txt) restricted
// to the characters a nickname may hold (A-Z a-z 0-9 _ -). Every line of
// that file whose source and target are both such characters:
//
//	0030 ;	004F ;	MA	# ( 0 → O ) DIGIT ZERO → LATIN CAPITAL LETTER O
//	0031 ;	006C ;	MA	# ( 1 → l ) DIGIT ONE → LATIN SMALL LETTER L
//	0049 ;	006C ;	MA	# ( I → l ) LATIN CAPITAL LETTER I → LATIN SMALL LETTER L
//	006D ;	0072 006E ;	MA	# ( m → rn ) LATIN SMALL LETTER M → LATIN SMALL LETTER R, LATIN SMALL LETTER N
//
// The file has no entry for d → cl or w → vv, and none is added: closed
// under case and I → l, d → cl would make "luci" and "lud" one nickname.
//
// Nicknames are also the same ignoring case, and the two relations must be
// closed together: I is l (confusable) and i (case), so i, I, l, L and 1 are
// one class; 0, O and o are one; m, M, rn, RN, rN and Rn are one. The
// skeleton therefore lowercases first and then maps each lowercase class
// to one spelling, expanding m to rn (never rn to m, which would depend on
// how letters pair up): since it is a letter-by-letter map, nicknames that
// differ only by any of these substitutions, in any number and in any
// order, have equal skeletons.
var skeletonOf = [128]string{
	'0': "o", 'o': "o",
	'1': "l", 'i': "l", 'l': "l",
	'm': "rn",
}

// skeleton returns the form under which look-alike nicknames are equal. It
// is meant for valid nicknames (ASCII); other bytes are kept as they are.
func skeleton(nick string) string {
	var b strings.Builder
	b.Grow(2 * len(nick))
	for i := 0; i < len(nick); i++ {
		c := lowerASCII(nick[i])
		if c < 0x80 && skeletonOf[c] != "" {
			b.WriteString(skeletonOf[c])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// lowerASCII returns c in lower case if it is an ASCII capital letter.
func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
