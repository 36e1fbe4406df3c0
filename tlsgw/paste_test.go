package tlsgw

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"chatd/room"
)

// TestEndOfInputWaitsForQueuedLines: a client that sends more lines than
// the flood limit lets through at once and then ends its input (a TLS
// close_notify, or a bare TCP half-close) stays until its queued lines
// have gone out, in order, then leaves as a closed connection.
func TestEndOfInputWaitsForQueuedLines(t *testing.T) {
	for _, end := range []string{"close_notify", "tcp half-close"} {
		t.Run(end, func(t *testing.T) {
			ts := startServer(t, Config{Room: room.New(room.Config{FloodRate: 50, FloodBurst: 5})})
			reader := ts.join(t, "reader")
			bot := ts.join(t, "bot")
			reader.expect("*** bot joined")
			for i := range 20 {
				bot.send(fmt.Sprint("line ", i))
			}
			var err error
			if end == "close_notify" {
				err = bot.conn.CloseWrite()
			} else {
				err = bot.conn.NetConn().(*net.TCPConn).CloseWrite()
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range 20 {
				if line, skipped := reader.expect("<bot> "); len(skipped) > 0 || !endsWith(line, fmt.Sprint("<bot> line ", i)) {
					t.Fatalf("reader got %q after %q, want line %d", line, skipped, i)
				}
			}
			if line := reader.readLine(); !strings.Contains(line, "*** bot left") {
				t.Errorf("after the 20 lines the reader got %q, want bot's leave", line)
			}
		})
	}
}

func endsWith(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}
