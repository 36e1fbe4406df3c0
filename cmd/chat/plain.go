package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

	"chatd/client"
	"chatd/proto"
	"chatd/room"
)

// After standard input ends, plain mode sends /quit and waits for the
// server's goodbye: quitGrace, plus lineGrace for each line sent (at most
// graceLines of them), the time chatd's default flood rule (2 lines a
// second, 10 at once, 64 more queued) may take to deliver the lines sent
// before it, since /quit takes its turn behind them.
const (
	quitGrace  = 5 * time.Second
	lineGrace  = time.Second / 2
	graceLines = 74
	// maxInputLine is the longest line read from standard input.
	maxInputLine = 64 << 10
)

// runPlain relays stdin lines to the server and the server's lines, cleaned,
// to stdout. At the end of stdin it quits. It returns the exit status: 0
// after a quit, 1 if the connection was lost or standard input could not
// be read to its end (a line over 64 KiB), and then says why on stderr.
func runPlain(session *client.Redialer, stdin io.Reader, stdout, stderr io.Writer) int {
	inputDone := make(chan plainInput, 1)
	go func() { inputDone <- relayInput(session, stdin) }()
	out := bufio.NewWriter(stdout)
	var buf []byte
	var inputErr error
	events := session.Events()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				out.Flush()
				code := ended(session.Reason(), stderr)
				if inputErr != nil {
					fmt.Fprintf(stderr, "chat: reading standard input: %v; the lines after it were not sent\n", inputErr)
					code = exitFailed
				}
				return code
			}
			buf = proto.AppendEvent(buf[:0], ev)
			out.Write(buf)
			if len(events) == 0 {
				out.Flush()
			}
		case in := <-inputDone:
			inputDone, inputErr = nil, in.err
			session.Send("/quit")
			grace := quitGrace + time.Duration(min(in.lines, graceLines))*lineGrace
			time.AfterFunc(grace, session.Close)
		}
	}
}

// plainInput is how reading standard input ended.
type plainInput struct {
	lines int   // lines sent
	err   error // why it stopped before the end, if it did
}

// relayInput sends stdin's lines, each waiting its turn (the session
// blocks rather than drop one), until its end or a line it cannot read.
func relayInput(session *client.Redialer, stdin io.Reader) plainInput {
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 4096), maxInputLine)
	n := 0
	for sc.Scan() {
		session.Send(sc.Text())
		n++
	}
	err := sc.Err()
	if errors.Is(err, bufio.ErrTooLong) {
		err = fmt.Errorf("a line is longer than %d KiB", maxInputLine>>10)
	}
	return plainInput{lines: n, err: err}
}

// ended says why the session ended, unless the user quit, and returns the
// exit status.
func ended(reason room.Reason, stderr io.Writer) int { return sayEnded(stderr, reason) }
