package proto

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"chatd/room"
)

// The resume extension (docs/PROTOCOL.md, "Resuming"): a client that knows
// it sends, at the nickname prompt, before its nickname,
//
//	/resume SEQ [LOG [STAMP]]
//
// (STAMP, EventStamp of the event numbered SEQ as the client was shown
// it, lets the server tell a log rolled back since, whose SEQ is another
// event), and the server answers with a notice that it understood,
//
//	*** resume after SEQ in log LOG
//
// then the prompt again. From then on every public event the connection is
// sent carries its sequence number in front of the line, "#SEQ ", and on
// joining the client is replayed the public events after SEQ (if LOG is the
// log the server has now). A client that never sends /resume never sees
// either form.
const (
	// ResumeCommand is the request's first word.
	ResumeCommand = "/resume"
	resumeAckWord = "resume after "
	resumeAckLog  = " in log "
	// MaxLogIDLen bounds a log's identifier (LOG above): 1 to 32 of
	// A-Z a-z 0-9 _ -.
	MaxLogIDLen = 32
	// maxSeqDigits bounds SEQ: a uint64 has at most 20 decimal digits.
	maxSeqDigits = 20
	// StampLen is the length of a STAMP (EventStamp): 16 of 0-9 a-f.
	StampLen = 16
)

// ResumePoint is where a client asks to resume: after the public event
// numbered After in the log named Log ("" if it knows none, as on a first
// join: After is then 0), which it was shown as the event whose
// EventStamp is Stamp ("" if it does not say; never in an
// acknowledgement).
type ResumePoint struct {
	After uint64
	Log   string
	Stamp string
}

// EventStamp fingerprints a public event as its wire line shows it
// (AppendEvent: its time to the second, in UTC, its kind, names and
// text): the first 8 bytes of the line's SHA-256, in 16 lowercase hex
// digits. A client and the server compute it from the same line, the
// client from the event it parsed (ParseLine reads back what AppendEvent
// wrote), so it tells the event a client was shown from another event
// numbered the same.
func EventStamp(ev *room.Event) string {
	sum := sha256.Sum256(AppendEvent(nil, ev))
	return hex.EncodeToString(sum[:StampLen/2])
}

// ErrBadResume is wrapped by ParseResume's errors.
var ErrBadResume = errors.New("invalid resume request")

// IsResume reports whether line (as a client typed it) is a resume
// request, well-formed or not: its first word is ResumeCommand, in any
// case.
func IsResume(line string) bool {
	word, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	return strings.EqualFold(word, ResumeCommand)
}

// ParseResume reads a resume request, "/resume SEQ [LOG [STAMP]]". SEQ is
// 1 to 20 decimal digits that fit in a uint64 (no sign); LOG, if present,
// 1 to MaxLogIDLen of A-Z a-z 0-9 _ -; STAMP, if present, StampLen of
// 0-9 a-f. Anything else is an error wrapping ErrBadResume that says what
// is wrong.
func ParseResume(line string) (ResumePoint, error) {
	fields := strings.Fields(line)
	if len(fields) == 0 || !strings.EqualFold(fields[0], ResumeCommand) {
		return ResumePoint{}, fmt.Errorf("%w: it starts with %s", ErrBadResume, ResumeCommand)
	}
	if len(fields) < 2 || len(fields) > 4 {
		return ResumePoint{}, fmt.Errorf("%w: use %s SEQ [LOG [STAMP]]", ErrBadResume, ResumeCommand)
	}
	after, err := parseSeq(fields[1])
	if err != nil {
		return ResumePoint{}, err
	}
	p := ResumePoint{After: after}
	if len(fields) >= 3 {
		if !validLogID(fields[2]) {
			return ResumePoint{}, fmt.Errorf("%w: a log is named by 1 to %d letters, digits, _ or -", ErrBadResume, MaxLogIDLen)
		}
		p.Log = fields[2]
	}
	if len(fields) == 4 {
		if !validStamp(fields[3]) {
			return ResumePoint{}, fmt.Errorf("%w: a stamp is %d of 0-9 a-f", ErrBadResume, StampLen)
		}
		p.Stamp = fields[3]
	}
	return p, nil
}

// validStamp reports whether s may be a STAMP: StampLen of 0-9 a-f.
func validStamp(s string) bool {
	if len(s) != StampLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// parseSeq reads a sequence number: decimal digits only, at most
// maxSeqDigits, within a uint64.
func parseSeq(s string) (uint64, error) {
	if s == "" || len(s) > maxSeqDigits || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, fmt.Errorf("%w: the sequence number must be 1 to %d digits 0-9", ErrBadResume, maxSeqDigits)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: the sequence number is too large", ErrBadResume)
	}
	return n, nil
}

// validLogID reports whether id may name a log: 1 to MaxLogIDLen of
// A-Z a-z 0-9 _ -.
func validLogID(id string) bool {
	if id == "" || len(id) > MaxLogIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// AppendResume appends the request line for p, newline included; its
// Stamp only with its Log.
func AppendResume(dst []byte, p ResumePoint) []byte {
	dst = strconv.AppendUint(append(dst, ResumeCommand+" "...), p.After, 10)
	if p.Log != "" {
		dst = append(append(dst, ' '), p.Log...)
		if p.Stamp != "" {
			dst = append(append(dst, ' '), p.Stamp...)
		}
	}
	return append(dst, '\n')
}

// ResumeAck is the notice that accepts a resume request: the point the
// server resumes from, in the log it has now. After is 0 if the request
// named another log than the server's, which then replays its recent
// history as to any joiner.
func ResumeAck(p ResumePoint) *room.Event {
	return &room.Event{Kind: room.Notice, Text: resumeAckWord + strconv.FormatUint(p.After, 10) + resumeAckLog + p.Log}
}

// ParseResumeAck reads the point a resume acknowledgement (a Notice from
// ResumeAck, as parsed by ParseLine) names; ok is false if ev is not one.
func ParseResumeAck(ev *room.Event) (p ResumePoint, ok bool) {
	if ev.Kind != room.Notice {
		return ResumePoint{}, false
	}
	rest, found := strings.CutPrefix(ev.Text, resumeAckWord)
	if !found {
		return ResumePoint{}, false
	}
	seq, id, found := strings.Cut(rest, resumeAckLog)
	after, err := parseSeq(seq)
	if !found || err != nil || !validLogID(id) {
		return ResumePoint{}, false
	}
	return ResumePoint{After: after, Log: id}, true
}

// AppendEventSeq is AppendEvent for a connection that asked for sequence
// numbers (a resume request): a public event that has one is prefixed with
// "#SEQ ".
func AppendEventSeq(dst []byte, ev *room.Event) []byte {
	if ev.Seq > 0 && ev.Kind.Public() {
		dst = append(strconv.AppendUint(append(dst, '#'), ev.Seq, 10), ' ')
	}
	return AppendEvent(dst, ev)
}

// CutSeq splits the "#SEQ " prefix off a line sent to a connection that
// asked for sequence numbers. It returns the line unchanged and 0 if it has
// none; a malformed prefix is no prefix, and the line is then parsed as it
// is (a Notice).
func CutSeq(line string) (seq uint64, rest string) {
	if len(line) < 3 || line[0] != '#' {
		return 0, line
	}
	num, rest, found := strings.Cut(line[1:], " ")
	if !found {
		return 0, line
	}
	n, err := parseSeq(num)
	if err != nil || n == 0 {
		return 0, line
	}
	return n, rest
}
