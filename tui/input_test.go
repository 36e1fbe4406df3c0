package tui

import (
	"strings"
	"testing"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
)

// TestInputBoundsBytesNotRunes: the room's line limit is in bytes, so the
// input line is too. Typing or pasting two-byte letters stops at the byte
// limit, never in the middle of a letter, and a line that fits is typed
// whole.
func TestInputBoundsBytesNotRunes(t *testing.T) {
	in := newInput("> ", 10)
	for range 8 {
		in.update(tea.KeyPressMsg{Code: 'é', Text: "é"})
	}
	if got := in.value(); got != "ééééé" {
		t.Errorf("typed 8 two-byte letters into a 10-byte line: %q (%d bytes), want 5 of them", got, len(got))
	}
	in.take()
	in.update(tea.PasteMsg{Content: "abc" + strings.Repeat("é", 10)})
	if got := in.value(); got != "abcééé" || !utf8.ValidString(got) {
		t.Errorf("paste cut to %q (%d bytes), want \"abcééé\": the longest whole-letter prefix within 10 bytes", got, len(got))
	}
	in.take()
	in.update(tea.KeyPressMsg{Code: 'a', Text: "a"})
	in.update(tea.PasteMsg{Content: "bcdefghij"})
	if got := in.value(); got != "abcdefghij" {
		t.Errorf("a line that fits: %q", got)
	}
}

// TestChatInputTakesTheRoomsLimit: the chat line holds as many bytes as the
// room takes, and no more.
func TestChatInputTakesTheRoomsLimit(t *testing.T) {
	m, _ := newTestModel(t, "alice", 80, 24)
	m.Update(tea.PasteMsg{Content: strings.Repeat("ü", maxInputBytes)})
	if got := len(m.input.value()); got != maxInputBytes {
		t.Errorf("the input holds %d bytes after a long paste, want the room's %d", got, maxInputBytes)
	}
}
