package room

import "strings"

// ReasonKind says, in a word the program can test, why a member left.
type ReasonKind uint8

// The kinds of reasons a member leaves. The zero kind, ReasonOther, is a
// reason known only in words (its Detail); the zero Reason is no reason at
// all, the reason of a member that has not left.
const (
	// ReasonOther is a reason this program has no kind for: one read from a
	// newer server, or one a client found itself. Detail says it.
	ReasonOther ReasonKind = iota
	// ReasonQuit: the member left with /quit (or its front end's way of
	// saying so, such as Ctrl+C). Detail is the member's parting message.
	ReasonQuit
	// ReasonClosed: the member's connection was closed by its client.
	ReasonClosed
	// ReasonLost: the member's connection failed. Detail may say how.
	ReasonLost
	// ReasonSlowConsumer: the member stopped reading what it was sent.
	ReasonSlowConsumer
	// ReasonFlood: the member sent too many lines too fast.
	ReasonFlood
	// ReasonShutdown: the server is shutting down.
	ReasonShutdown
	// ReasonProtocol: the member's client broke the protocol of its
	// transport. Detail says how, such as "sent too much without a newline".
	ReasonProtocol
	// ReasonKicked: an operator removed the member (Room.Remove). Detail
	// is who, then why: "alice: spam", worded "kicked by alice: spam".
	ReasonKicked
	// ReasonBanned: an operator banned the member, which removed it.
	// Detail is who, until when and why, worded "banned by " and Detail.
	ReasonBanned
	// ReasonRefused: the server turned the connection away at the door
	// (its access policy, or a ban) before it joined. Detail is what the
	// server said, such as "you are banned until 2026-12-01 18:00:00 UTC:
	// spam".
	ReasonRefused
)

// reasonWords are the words each kind is shown with when Detail does not
// replace them (see Reason.String).
var reasonWords = [...]string{
	ReasonQuit:         "quit",
	ReasonClosed:       "connection closed",
	ReasonLost:         "connection lost",
	ReasonSlowConsumer: "slow consumer",
	ReasonFlood:        "flooding",
	ReasonShutdown:     "server shutting down",
	ReasonProtocol:     "protocol error",
	ReasonKicked:       "kicked",
	ReasonBanned:       "banned",
	ReasonRefused:      "refused",
}

// Reason is why a member left: a kind the program can test, and words for
// people.
type Reason struct {
	Kind ReasonKind
	// Detail says more. For ReasonQuit and ReasonLost it follows the kind's
	// words ("quit: off to lunch", "connection lost: reset by peer"); for
	// the other kinds, when set, it replaces them: how a client broke the
	// protocol, what a reason of kind ReasonOther is, or the words a server
	// used when it disconnected its client.
	Detail string
}

// appendsDetail reports whether Detail follows the kind's words rather than
// replacing them.
func (r Reason) appendsDetail() bool {
	return r.Kind == ReasonQuit || r.Kind == ReasonLost || r.Kind == ReasonRefused || r.byOperator()
}

// Final reports whether the server meant the member to stay out: an
// operator removed it, or the door refused it. A client does not
// reconnect by itself after such a reason.
func (r Reason) Final() bool {
	return r.byOperator() || r.Kind == ReasonRefused
}

// Farewell words a Final reason for the one it sent away, as the last
// thing its screen shows: "You were kicked by alice: spam.", "You were
// banned by alice until 2026-12-01 18:00:00 UTC: spam.", and for a refusal
// the server's own words, "You are banned until ...: spam.". It is "" for
// a reason that is not Final. Detail is the server's: the caller cleans it
// for a terminal.
func (r Reason) Farewell() string {
	var s string
	switch r.Kind {
	case ReasonKicked:
		s = "You were kicked"
	case ReasonBanned:
		s = "You were banned"
	case ReasonRefused:
		if r.Detail == "" {
			return "The server refused you."
		}
		s = r.Detail
		if c := s[0]; 'a' <= c && c <= 'z' {
			s = string(c-'a'+'A') + s[1:]
		}
	default:
		return ""
	}
	if r.Detail != "" && r.Kind != ReasonRefused {
		s += " by " + r.Detail
	}
	if !strings.ContainsAny(s[len(s)-1:], ".!?") {
		s += "."
	}
	return s
}

// byOperator reports whether an operator removed the member: its Detail
// names who, after " by ".
func (r Reason) byOperator() bool { return r.Kind == ReasonKicked || r.Kind == ReasonBanned }

// detailSep is what comes between the kind's words and a Detail that
// follows them.
func (r Reason) detailSep() string {
	if r.byOperator() {
		return " by "
	}
	return ": "
}

// String words the reason as Leave lines show it: "quit", "quit: bye",
// "connection closed", "connection lost", "slow consumer", "flooding",
// "server shutting down", "kicked by alice: spam", "banned by alice: spam",
// "refused: you are banned", or Detail where it replaces those words. The
// zero Reason is "".
func (r Reason) String() string {
	switch {
	case r.appendsDetail() && r.Detail != "":
		return reasonWords[r.Kind] + r.detailSep() + r.Detail
	case r.Detail != "" || int(r.Kind) >= len(reasonWords):
		return r.Detail
	}
	return reasonWords[r.Kind]
}

// AppendText appends String's words to b; it never fails. It lets an
// encoder word a reason without allocating.
func (r Reason) AppendText(b []byte) ([]byte, error) {
	switch {
	case r.appendsDetail() && r.Detail != "":
		return append(append(append(b, reasonWords[r.Kind]...), r.detailSep()...), r.Detail...), nil
	case r.Detail != "" || int(r.Kind) >= len(reasonWords):
		return append(b, r.Detail...), nil
	}
	return append(b, reasonWords[r.Kind]...), nil
}

// ParseReason reads back the words String gives: ParseReason(r.String())
// is r for every reason the room gives. Words it does not know are a
// ReasonOther with the words as Detail; "" is the zero Reason.
func ParseReason(s string) Reason {
	for kind, words := range reasonWords {
		if words == "" {
			continue
		}
		if s == words {
			return Reason{Kind: ReasonKind(kind)}
		}
		r := Reason{Kind: ReasonKind(kind)}
		if detail, ok := strings.CutPrefix(s, words+r.detailSep()); ok && r.appendsDetail() {
			r.Detail = detail
			return r
		}
	}
	return Reason{Kind: ReasonOther, Detail: s}
}

// Involuntary reports whether the member lost its place against its will
// and the server's: anything but /quit and shutdown (a connection closed or
// lost, a slow or flooding client, a broken protocol, and a removal by an
// operator). Its nickname is then held for it (Config.NickGrace), unless
// an operator removed it (Final), and its front end's farewell, if any,
// is an error rather than a notice.
func (r Reason) Involuntary() bool {
	return r.Kind != ReasonQuit && r.Kind != ReasonShutdown
}

// Leave classes, as counted in Stats.Leaves and labelled in metrics.
const (
	ClassQuit         = "quit"
	ClassSlowConsumer = "slow consumer"
	ClassFlood        = "flooding"
	ClassShutdown     = "server shutting down"
	ClassRemoved      = "removed by an operator"
	ClassDisconnected = "disconnected"
)

// Class sorts the reason into one of a few classes, for metrics: quit,
// slow consumer, flooding, server shutting down, removed by an operator,
// and disconnected for the rest.
func (r Reason) Class() string {
	switch r.Kind {
	case ReasonQuit:
		return ClassQuit
	case ReasonSlowConsumer:
		return ClassSlowConsumer
	case ReasonFlood:
		return ClassFlood
	case ReasonShutdown:
		return ClassShutdown
	case ReasonKicked, ReasonBanned, ReasonRefused:
		return ClassRemoved
	}
	return ClassDisconnected
}

// ShutdownNotice is what chatd tells every member when it shuts down (see
// Room.Close); clients recognise it as the server's farewell.
const ShutdownNotice = "The server is shutting down. Goodbye!"
