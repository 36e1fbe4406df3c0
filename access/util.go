package access

import (
	"strings"
	"unicode/utf8"
)

// utf8ValidEnd reports whether s does not end in the middle of a
// character.
func utf8ValidEnd(s string) bool {
	r, size := utf8.DecodeLastRuneInString(s)
	return r != utf8.RuneError || size > 1
}

// joinWords joins a command's words back into text.
func joinWords(words []string) string { return strings.Join(words, " ") }
