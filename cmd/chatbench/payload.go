package main

import (
	"bytes"
	"math"
	"strconv"
)

// A bench message is one token, "bench:RUN:FROM:SEQ:NANOS", that a receiver
// finds anywhere in a line or on a screen, whatever the server puts around
// it (chatd's "[hh:mm:ss] <nick> ", ncat's "<user5> ", a TUI's layout). RUN
// is a random tag for this run, so lines replayed from an earlier run's
// history are ignored; FROM is the sending client's index, SEQ its message
// number and NANOS the wall-clock send time in Unix nanoseconds.
const payloadWord = "bench"

// payload is what one bench message carries.
type payload struct {
	from int   // index of the sending client
	seq  int64 // the sender's message number, from 1
	sent int64 // send time, Unix nanoseconds
}

// payloadMarker is the prefix every payload of run starts with.
func payloadMarker(run string) []byte {
	return []byte(payloadWord + ":" + run + ":")
}

// appendPayload appends p's text for run to dst.
func appendPayload(dst []byte, run string, p payload) []byte {
	dst = append(dst, payloadWord...)
	dst = append(dst, ':')
	dst = append(dst, run...)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, int64(p.from), 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, p.seq, 10)
	dst = append(dst, ':')
	return strconv.AppendInt(dst, p.sent, 10)
}

// nextPayload finds the first well-formed payload with marker in text and
// returns it with the text that follows it; ok is false when there is none.
// Malformed candidates (a marker not followed by three numbers) are skipped.
func nextPayload(text, marker []byte) (p payload, rest []byte, ok bool) {
	for {
		i := bytes.Index(text, marker)
		if i < 0 {
			return payload{}, nil, false
		}
		text = text[i+len(marker):]
		if p, n, ok := parsePayloadFields(text); ok {
			return p, text[n:], true
		}
	}
}

// parsePayloadFields parses "FROM:SEQ:NANOS" at the start of b and returns
// how many bytes it used. NANOS must not run on into letters or digits.
func parsePayloadFields(b []byte) (payload, int, bool) {
	var fields [3]int64
	pos := 0
	for k := range fields {
		if k > 0 {
			if pos >= len(b) || b[pos] != ':' {
				return payload{}, 0, false
			}
			pos++
		}
		n, used, ok := parseUint(b[pos:])
		if !ok {
			return payload{}, 0, false
		}
		fields[k], pos = n, pos+used
	}
	if pos < len(b) && isWordByte(b[pos]) {
		return payload{}, 0, false
	}
	if fields[0] > maxClients {
		return payload{}, 0, false
	}
	return payload{from: int(fields[0]), seq: fields[1], sent: fields[2]}, pos, true
}

// parseUint reads a decimal number that fits an int64.
func parseUint(b []byte) (n int64, used int, ok bool) {
	for used < len(b) && b[used] >= '0' && b[used] <= '9' {
		if n > (math.MaxInt64-9)/10 {
			return 0, 0, false
		}
		n = n*10 + int64(b[used]-'0')
		used++
	}
	return n, used, used > 0
}

func isWordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}
