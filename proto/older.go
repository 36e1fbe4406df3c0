package proto

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"chatd/room"
)

// The older-page extension (docs/PROTOCOL.md, "Scrolling back"): a client
// whose events are numbered (it asked to resume) may ask, once joined,
//
//	/older SEQ N
//
// for the N public events just before the one numbered SEQ (N at most
// room.MaxPage). The server answers with a framed block of numbered lines,
// written at once, so that no live event falls inside it:
//
//	*** older before SEQ: K
//	#s1 ... (K numbered lines, oldest first)
//	*** older end
//
// K below N means the log holds no more before them. Instead of a block,
// "*** older before SEQ: busy" says the client asked too fast (ask again
// later) and "*** older before SEQ: unavailable" that the log cannot be
// read back. A connection that never asked to resume never sees any of it:
// /older is an unknown command there, and /help does not list it.
const (
	// OlderCommand is the request's first word.
	OlderCommand     = "/older"
	olderWord        = "older before "
	olderEndText     = "older end"
	olderBusy        = "busy"
	olderUnavailable = "unavailable"
)

// OlderRequest asks for the N public events just before the one numbered
// Before.
type OlderRequest struct {
	Before uint64
	N      int
}

// ErrBadOlder is wrapped by ParseOlder's errors.
var ErrBadOlder = errors.New("invalid /older request")

// IsOlder reports whether line is an older-page request, well-formed or
// not: its first word is OlderCommand, in any case.
func IsOlder(line string) bool {
	word, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	return strings.EqualFold(word, OlderCommand)
}

// ParseOlder reads "/older SEQ N": SEQ 1 to 20 digits within a uint64, N
// 1 to room.MaxPage. Anything else is an error wrapping ErrBadOlder.
func ParseOlder(line string) (OlderRequest, error) {
	fields := strings.Fields(line)
	if len(fields) != 3 || !strings.EqualFold(fields[0], OlderCommand) {
		return OlderRequest{}, fmt.Errorf("%w: use %s SEQ N", ErrBadOlder, OlderCommand)
	}
	before, err := parseSeq(fields[1])
	if err != nil {
		return OlderRequest{}, fmt.Errorf("%w: the sequence number must be 1 to %d digits 0-9 within 64 bits", ErrBadOlder, maxSeqDigits)
	}
	n, ok := parsePageCount(fields[2])
	if !ok || n < 1 {
		return OlderRequest{}, fmt.Errorf("%w: N must be 1 to %d", ErrBadOlder, room.MaxPage)
	}
	return OlderRequest{Before: before, N: n}, nil
}

// parsePageCount reads a count of events, 0 to room.MaxPage: 1 to 3 digits
// 0-9, no sign.
func parsePageCount(s string) (int, bool) {
	if s == "" || len(s) > 3 || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n <= room.MaxPage
}

// AppendOlder appends the request line for r, newline included.
func AppendOlder(dst []byte, r OlderRequest) []byte {
	dst = strconv.AppendUint(append(dst, OlderCommand+" "...), r.Before, 10)
	dst = strconv.AppendInt(append(dst, ' '), int64(r.N), 10)
	return append(dst, '\n')
}

// OlderStatus is what the answer to a request says.
type OlderStatus uint8

const (
	// OlderPage: Count numbered lines follow, then the end line.
	OlderPage OlderStatus = iota + 1
	// OlderBusy: asked too fast; nothing follows.
	OlderBusy
	// OlderUnavailable: the log cannot be read back; nothing follows.
	OlderUnavailable
)

// OlderReply is the first line of an answer.
type OlderReply struct {
	Before uint64
	Status OlderStatus
	Count  int // OlderPage only
}

// OlderHeader is the notice that starts the answer r.
func OlderHeader(r OlderReply) *room.Event {
	text := olderWord + strconv.FormatUint(r.Before, 10) + ": "
	switch r.Status {
	case OlderBusy:
		text += olderBusy
	case OlderUnavailable:
		text += olderUnavailable
	default:
		text += strconv.Itoa(r.Count)
	}
	return &room.Event{Kind: room.Notice, Text: text}
}

// ParseOlderHeader reads an answer's first line (a Notice, as ParseLine
// makes it); ok is false if ev is not one.
func ParseOlderHeader(ev *room.Event) (r OlderReply, ok bool) {
	if ev.Kind != room.Notice {
		return OlderReply{}, false
	}
	rest, found := strings.CutPrefix(ev.Text, olderWord)
	if !found {
		return OlderReply{}, false
	}
	seq, what, found := strings.Cut(rest, ": ")
	before, err := parseSeq(seq)
	if !found || err != nil {
		return OlderReply{}, false
	}
	r.Before = before
	switch what {
	case olderBusy:
		r.Status = OlderBusy
	case olderUnavailable:
		r.Status = OlderUnavailable
	default:
		n, ok := parsePageCount(what)
		if !ok {
			return OlderReply{}, false
		}
		r.Status, r.Count = OlderPage, n
	}
	return r, true
}

// OlderEnd is the notice that ends a page.
func OlderEnd() *room.Event { return &room.Event{Kind: room.Notice, Text: olderEndText} }

// IsOlderEnd reports whether ev is the notice that ends a page.
func IsOlderEnd(ev *room.Event) bool { return ev.Kind == room.Notice && ev.Text == olderEndText }
