package main

import (
	"bufio"
	"fmt"
	"io"
	"time"

	"chatd/client"
	"chatd/proto"
	"chatd/room"
)

// quitGrace is how long plain mode waits for the server's goodbye after
// standard input ends.
const quitGrace = 5 * time.Second

// runPlain relays stdin lines to the server and the server's lines, cleaned,
// to stdout. At the end of stdin it quits. It returns the exit status: 0
// after a quit, 1 if the connection was lost, and then says why on stderr.
func runPlain(session *client.Redialer, stdin io.Reader, stdout, stderr io.Writer) int {
	inputDone := make(chan struct{})
	go func() {
		defer close(inputDone)
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 4096), 64<<10)
		for sc.Scan() {
			session.Send(sc.Text())
		}
	}()
	out := bufio.NewWriter(stdout)
	var buf []byte
	events := session.Events()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				out.Flush()
				return ended(session.Reason(), stderr)
			}
			buf = proto.AppendEvent(buf[:0], ev)
			out.Write(buf)
			if len(events) == 0 {
				out.Flush()
			}
		case <-inputDone:
			inputDone = nil
			session.Send("/quit")
			go func() {
				time.Sleep(quitGrace)
				session.Close()
			}()
		}
	}
}

// ended says why the session ended, unless the user quit, and returns the
// exit status.
func ended(reason room.Reason, stderr io.Writer) int {
	if reason.Kind == room.ReasonQuit {
		return 0
	}
	fmt.Fprintf(stderr, "chat: you left the room (%s)\n", reason)
	return 1
}
