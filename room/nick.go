package room

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
)

// MaxNickLen is the longest nickname allowed, in bytes (nicks are ASCII).
const MaxNickLen = 24

// ErrInvalidNick is wrapped by errors about nicknames that break the rules.
var ErrInvalidNick = errors.New("invalid nickname")

// ErrNickTaken is wrapped by errors about nicknames someone else already has.
var ErrNickTaken = errors.New("nickname taken")

// NickRules describes valid nicknames in words, for prompts and errors.
const NickRules = "1 to 24 characters: letters A-Z a-z, digits, _ or -"

// ValidateNick returns nil if nick is a valid nickname, or an error, wrapping
// ErrInvalidNick, that tells the person what is wrong with it.
func ValidateNick(nick string) error {
	if nick == "" {
		return fmt.Errorf("%w: it is empty; use %s", ErrInvalidNick, NickRules)
	}
	if len(nick) > MaxNickLen {
		return fmt.Errorf("%w: it is %d characters long; use %s", ErrInvalidNick, len(nick), NickRules)
	}
	for i := 0; i < len(nick); i++ {
		if !IsNickByte(nick[i]) {
			return fmt.Errorf("%w: %q is not allowed; use %s", ErrInvalidNick, firstRune(nick[i:]), NickRules)
		}
	}
	return nil
}

// IsNickByte reports whether c may appear in a nickname.
func IsNickByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

func firstRune(s string) string {
	for _, r := range s {
		return string(r)
	}
	return s
}

// nickKey is the form under which nicknames are compared, the one place
// that decides whether two nicknames are the same: ignoring case and
// look-alike characters (confusable.go), so that "aIice", "a1ice" and
// "ALICE" are all alice, and "rn" is "m".
func nickKey(nick string) string { return skeleton(nick) }

// CompareNicks orders nicknames as the room lists them: case-insensitively,
// ties broken byte by byte so that the order is total (nicknames are unique
// ignoring case, so ties only come up between lists from different rooms).
// It returns a negative number, zero or a positive number as sort functions
// expect.
func CompareNicks(a, b string) int {
	return cmp.Or(cmp.Compare(strings.ToLower(a), strings.ToLower(b)), strings.Compare(a, b))
}
