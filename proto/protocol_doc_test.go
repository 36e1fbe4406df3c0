package proto

import (
	"os"
	"strings"
	"testing"

	"chatd/room"
)

// TestProtocolDocListsEveryCommand keeps docs/PROTOCOL.md in step with the
// room's command registry, and its example lines with the codec.
func TestProtocolDocListsEveryCommand(t *testing.T) {
	doc, err := os.ReadFile("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range room.Commands() {
		if !strings.Contains(string(doc), "`"+c.Usage()) {
			t.Errorf("docs/PROTOCOL.md does not list %s", c.Usage())
		}
		for _, alias := range c.Aliases {
			if !strings.Contains(string(doc), "`"+alias+"`") {
				t.Errorf("docs/PROTOCOL.md does not list the alias %s", alias)
			}
		}
	}
	for _, line := range strings.Split(string(doc), "\n") {
		// Every stamped example must parse as the structured event it shows.
		if len(line) > stampLen && line[0] == '[' && line[3] == ':' {
			if ev := ParseLine(line, stamp); ev.Kind == room.Notice {
				t.Errorf("example %q in docs/PROTOCOL.md does not parse as a structured event", line)
			}
		}
	}
}
