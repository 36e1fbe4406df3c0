package tui

import (
	"github.com/charmbracelet/x/ansi"
)

// span is a byte range of a text.
type span struct{ start, end int }

// wrap breaks plain text (no escape sequences) into lines: the first at most
// first display columns wide, the others at most rest. It breaks at spaces
// where it can, dropping the spaces at the break, and inside a word only when
// the word does not fit on a line of its own. Widths are measured per
// grapheme cluster with method, so wide characters (CJK, emoji) never
// overflow a line; limits below 2 are raised to 2 so that a wide character
// always fits somewhere.
func wrap(text string, first, rest int, method ansi.Method) []span {
	limit := max(first, 2)
	rest = max(rest, 2)
	var out []span
	lineStart, lineW := 0, 0
	lastSpace := -1 // where the last run of spaces on this line starts
	for i := 0; i < len(text); {
		cluster, w := ansi.FirstGraphemeCluster(text[i:], method)
		if cluster == "" { // cannot happen with valid input; never loop forever
			cluster = text[i : i+1]
		}
		space := cluster == " "
		if space && (i == 0 || text[i-1] != ' ') {
			lastSpace = i
		}
		if lineW+w > limit && i > lineStart {
			end, next := i, i // hard break before this cluster
			switch {
			case space:
				end, next = lastSpace, skipSpaces(text, i)
			case lastSpace > lineStart:
				end, next = lastSpace, skipSpaces(text, lastSpace)
			}
			out = append(out, span{lineStart, end})
			lineStart, lineW, lastSpace, limit = next, 0, -1, rest
			i = next
			continue
		}
		lineW += w
		i += len(cluster)
	}
	if lineStart < len(text) || len(out) == 0 {
		out = append(out, span{lineStart, len(text)})
	}
	return out
}

func skipSpaces(s string, i int) int {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}
