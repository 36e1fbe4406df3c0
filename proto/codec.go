// Package proto is chatd's line protocol: the one codec between room events and
// the lines a TLS client reads (AppendEvent, ParseLine), and the bounded
// reader of the lines a peer sends (LineReader). The grammar is written down
// in docs/PROTOCOL.md, which the tests check against this code.
package proto

import (
	"strconv"
	"strings"
	"time"

	"chatd/room"
)

// The line grammar is defined in docs/PROTOCOL.md. Every server line is one
// event: an optional "[hh:mm:ss] " UTC timestamp, then a body whose first
// characters say what it is.
const (
	noticePrefix      = "*** "
	errorPrefix       = "!!! "
	privateSentPrefix = "-> *"
	historyBeginWord  = "recent history: "
	historyEndText    = "end of recent history"
	joinedSuffix      = " joined"
	renamedInfix      = " is now known as "
	leftInfix         = " left ("
	moreInfix         = " and "
	moreSuffix        = " more"
	presenceJoined    = " joined, "
	presenceLeft      = " left, "
	presenceNow       = " now"
	disconnected      = "disconnected: "
	stampLen          = len("[15:04:05] ")
)

// The words of the farewells a client is sent as its last line (room.Bye),
// besides the room's shutdown notice and "disconnected: " with the reason.
const (
	goodbyeText      = "Goodbye."
	slowConsumerText = disconnected + "you were not reading fast enough (slow consumer)"
	floodText        = disconnected + "flooding (too many lines too fast)"
)

// DetailNoNewline is the Detail of the room.ReasonProtocol reason of a
// client disconnected for sending more than the line limit without a
// newline (ErrNoNewline).
const DetailNoNewline = "sent too much without a newline"

// NickPrompt is the notice that asks a new connection for its nickname; a
// client knows the server waits for one when it reads it.
const NickPrompt = "Choose a nickname (" + room.NickRules + "), or type /who to see who is here:"

// AppendEvent appends the wire line for ev, newline included, to dst. A
// room.Bye without Text is worded from its reason, as clients have always
// been told: "*** Goodbye." after /quit, "!!! disconnected: ..." otherwise.
func AppendEvent(dst []byte, ev *room.Event) []byte {
	if !ev.Time.IsZero() {
		dst = appendStamp(dst, ev.Time)
	}
	switch ev.Kind {
	case room.Chat:
		dst = append(append(append(append(dst, '<'), ev.From...), "> "...), ev.Text...)
	case room.Action:
		dst = append(append(append(append(dst, "* "...), ev.From...), ' '), ev.Text...)
	case room.Private:
		dst = append(append(append(append(dst, '*'), ev.From...), "* "...), ev.Text...)
	case room.PrivateSent:
		dst = append(append(append(append(dst, privateSentPrefix...), ev.To...), "* "...), ev.Text...)
	case room.Error:
		dst = append(append(dst, errorPrefix...), ev.Text...)
	case room.Bye:
		dst = appendBye(dst, ev)
	default:
		dst = appendNotice(append(dst, noticePrefix...), ev)
	}
	return append(dst, '\n')
}

// appendNotice appends the body of the "*** " kinds.
func appendNotice(dst []byte, ev *room.Event) []byte {
	switch ev.Kind {
	case room.Join:
		return append(append(dst, ev.From...), joinedSuffix...)
	case room.Leave:
		dst = append(append(dst, ev.From...), leftInfix...)
		dst, _ = ev.Reason.AppendText(dst)
		return append(dst, ')')
	case room.NickChange:
		return append(append(append(dst, ev.From...), renamedInfix...), ev.To...)
	case room.Members:
		return appendMembers(dst, ev)
	case room.Presence:
		dst = append(strconv.AppendInt(dst, int64(ev.Joined), 10), presenceJoined...)
		dst = append(strconv.AppendInt(dst, int64(ev.Left), 10), presenceLeft...)
		return append(appendCount(dst, ev.Count, "member"), presenceNow...)
	case room.HistoryBegin:
		return appendCount(append(dst, historyBeginWord...), ev.Count, "event")
	case room.HistoryEnd:
		return append(dst, historyEndText...)
	}
	return append(dst, ev.Text...)
}

// appendBye appends a farewell: a notice if the member left of its own
// will or the server's (/quit, shutdown), else an error. The words are the
// event's Text or, without one, the standard ones for its reason.
func appendBye(dst []byte, ev *room.Event) []byte {
	if ev.Reason.Involuntary() {
		dst = append(dst, errorPrefix...)
	} else {
		dst = append(dst, noticePrefix...)
	}
	if ev.Text != "" {
		return append(dst, ev.Text...)
	}
	switch ev.Reason.Kind {
	case room.ReasonQuit:
		return append(dst, goodbyeText...)
	case room.ReasonShutdown:
		return append(dst, room.ShutdownNotice...)
	case room.ReasonSlowConsumer:
		return append(dst, slowConsumerText...)
	case room.ReasonFlood:
		return append(dst, floodText...)
	}
	dst, _ = ev.Reason.AppendText(append(dst, disconnected...))
	return dst
}

// appendMembers appends "N members: a, b, c", or, when the list names only
// some of them, "N members: a, b and M more", or "0 members" for an empty
// room (which only someone who has not joined can see).
func appendMembers(dst []byte, ev *room.Event) []byte {
	total := max(ev.Count, len(ev.Nicks))
	dst = appendCount(dst, total, "member")
	if total == 0 {
		return dst
	}
	dst = append(dst, ": "...)
	for i, nick := range ev.Nicks {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, nick...)
	}
	if more := total - len(ev.Nicks); more > 0 {
		dst = append(strconv.AppendInt(append(dst, moreInfix...), int64(more), 10), moreSuffix...)
	}
	return dst
}

// appendCount appends "1 event" or "N events".
func appendCount(dst []byte, n int, noun string) []byte {
	dst = append(strconv.AppendInt(dst, int64(n), 10), ' ')
	dst = append(dst, noun...)
	if n != 1 {
		dst = append(dst, 's')
	}
	return dst
}

// appendStamp appends "[hh:mm:ss] " in UTC without allocating.
func appendStamp(dst []byte, t time.Time) []byte {
	h, m, s := t.UTC().Clock()
	return append(dst, '[', digit(h/10), digit(h%10), ':', digit(m/10), digit(m%10), ':', digit(s/10), digit(s%10), ']', ' ')
}

func digit(n int) byte { return byte('0' + n) }

// ParseLine turns one server line (without its line ending) back into an
// event, the inverse of AppendEvent. A timestamp is placed on the most recent
// day, up to now, that has that time of day. Text fields are cleaned with
// room.Clean, so a hostile server cannot drive the client's terminal. A
// Leave line's reason is read back into its typed room.Reason (words it does
// not know are a room.ReasonOther); a farewell ("*** Goodbye.", the room's
// room.ShutdownNotice, "!!! disconnected: ...") becomes the room.Bye event
// it was, with its reason; the room's notices about its store
// (room.ReadOnlyNotice, room.WritableNotice, room.ReadOnlyText) get their
// Store back. A line that follows no rule of the grammar
// becomes a Notice holding the line.
func ParseLine(line string, now time.Time) *room.Event {
	line = room.Clean(line)
	ev := &room.Event{}
	body := line
	if t, ok := parseStamp(line, now); ok {
		ev.Time = t
		body = line[stampLen:]
	}
	if !parseBody(ev, body) {
		*ev = room.Event{Kind: room.Notice, Time: ev.Time, Text: body}
	}
	return ev
}

// parseBody fills ev from a line body; it reports false if no rule matched.
func parseBody(ev *room.Event, body string) bool {
	switch {
	case strings.HasPrefix(body, noticePrefix):
		parseNotice(ev, body[len(noticePrefix):])
		return true
	case strings.HasPrefix(body, errorPrefix):
		ev.Kind, ev.Text = room.Error, body[len(errorPrefix):]
		if ev.Text == room.ReadOnlyText {
			ev.Store = room.StoreReadOnly // a line refused: the room is read-only
		}
		parseFarewell(ev)
		return true
	case strings.HasPrefix(body, privateSentPrefix):
		nick, text, ok := cutNick(body[len(privateSentPrefix):], "* ")
		ev.Kind, ev.To, ev.Text = room.PrivateSent, nick, text
		return ok
	case strings.HasPrefix(body, "<"):
		nick, text, ok := cutNick(body[1:], "> ")
		ev.Kind, ev.From, ev.Text = room.Chat, nick, text
		return ok
	case strings.HasPrefix(body, "* "):
		nick, text, ok := cutNick(body[2:], " ")
		ev.Kind, ev.From, ev.Text = room.Action, nick, text
		return ok
	case strings.HasPrefix(body, "*"):
		nick, text, ok := cutNick(body[1:], "* ")
		ev.Kind, ev.From, ev.Text = room.Private, nick, text
		return ok
	}
	return false
}

// cutNick splits s at the first sep and reports whether what comes before is
// a valid nickname.
func cutNick(s, sep string) (nick, rest string, ok bool) {
	nick, rest, found := strings.Cut(s, sep)
	return nick, rest, found && room.ValidateNick(nick) == nil
}

// parseNotice recognises the structured "*** " lines; anything else is a
// plain Notice.
func parseNotice(ev *room.Event, text string) {
	switch {
	case text == goodbyeText:
		ev.Kind, ev.Text, ev.Reason = room.Bye, text, room.Reason{Kind: room.ReasonQuit}
		return
	case text == room.ShutdownNotice:
		ev.Kind, ev.Text, ev.Reason = room.Bye, text, room.Reason{Kind: room.ReasonShutdown}
		return
	case text == historyEndText:
		ev.Kind = room.HistoryEnd
		return
	case strings.HasPrefix(text, historyBeginWord):
		if n, ok := parseCount(text[len(historyBeginWord):], "event"); ok {
			ev.Kind, ev.Count = room.HistoryBegin, n
			return
		}
	case strings.HasSuffix(text, joinedSuffix):
		if nick := strings.TrimSuffix(text, joinedSuffix); room.ValidateNick(nick) == nil {
			ev.Kind, ev.From = room.Join, nick
			return
		}
	}
	if parseMembers(ev, text) || parsePresence(ev, text) || parseRename(ev, text) || parseLeave(ev, text) {
		return
	}
	ev.Kind, ev.Text = room.Notice, text
	switch text {
	case room.ReadOnlyNotice:
		ev.Store = room.StoreReadOnly
	case room.WritableNotice:
		ev.Store = room.StoreWritable
	}
}

func parseMembers(ev *room.Event, text string) bool {
	head, list, found := strings.Cut(text, ": ")
	if !found {
		if n, ok := parseCount(text, "member"); ok && n == 0 {
			ev.Kind, ev.Count = room.Members, 0 // an empty room
			return true
		}
		return false
	}
	total, ok := parseCount(head, "member")
	if !ok {
		return false
	}
	list, more, ok := cutMore(list)
	if !ok {
		return false
	}
	nicks := strings.Split(list, ", ")
	if len(nicks)+more != total {
		return false
	}
	for _, nick := range nicks {
		if room.ValidateNick(nick) != nil {
			return false
		}
	}
	ev.Kind, ev.Nicks, ev.Count = room.Members, nicks, total
	return true
}

// cutMore splits "a, b and N more" into the list and N; a list without the
// tail comes back whole, with 0.
func cutMore(list string) (nicks string, more int, ok bool) {
	head, found := strings.CutSuffix(list, moreSuffix)
	i := strings.LastIndex(head, moreInfix)
	if !found || i < 0 {
		return list, 0, true
	}
	n, err := strconv.Atoi(head[i+len(moreInfix):])
	return head[:i], n, err == nil && n > 0
}

// parsePresence parses "J joined, L left, N members now".
func parsePresence(ev *room.Event, text string) bool {
	joined, rest, ok1 := strings.Cut(text, presenceJoined)
	left, rest, ok2 := strings.Cut(rest, presenceLeft)
	count, ok3 := strings.CutSuffix(rest, presenceNow)
	j, errJ := strconv.Atoi(joined)
	l, errL := strconv.Atoi(left)
	n, ok4 := parseCount(count, "member")
	if !ok1 || !ok2 || !ok3 || !ok4 || errJ != nil || errL != nil || j < 0 || l < 0 {
		return false
	}
	ev.Kind, ev.Joined, ev.Left, ev.Count = room.Presence, j, l, n
	return true
}

func parseRename(ev *room.Event, text string) bool {
	old, renamed, found := strings.Cut(text, renamedInfix)
	if !found || room.ValidateNick(old) != nil || room.ValidateNick(renamed) != nil {
		return false
	}
	ev.Kind, ev.From, ev.To = room.NickChange, old, renamed
	return true
}

func parseLeave(ev *room.Event, text string) bool {
	nick, reason, found := strings.Cut(text, leftInfix)
	if !found || room.ValidateNick(nick) != nil || !strings.HasSuffix(reason, ")") {
		return false
	}
	ev.Kind, ev.From, ev.Reason = room.Leave, nick, parseReason(strings.TrimSuffix(reason, ")"))
	return true
}

// parseReason reads a reason as Leave lines word it, including the reasons
// of this protocol's own (DetailNoNewline).
func parseReason(s string) room.Reason {
	if s == DetailNoNewline {
		return room.Reason{Kind: room.ReasonProtocol, Detail: s}
	}
	return room.ParseReason(s)
}

// parseFarewell turns an Error event whose text is a farewell
// ("disconnected: ...") into the Bye event it is. A reason that does not
// disconnect anyone against its will is not a farewell of this form.
func parseFarewell(ev *room.Event) {
	var reason room.Reason
	switch ev.Text {
	case slowConsumerText:
		reason = room.Reason{Kind: room.ReasonSlowConsumer}
	case floodText:
		reason = room.Reason{Kind: room.ReasonFlood}
	default:
		words, ok := strings.CutPrefix(ev.Text, disconnected)
		if !ok {
			return
		}
		reason = parseReason(words)
	}
	if reason.Involuntary() {
		ev.Kind, ev.Reason = room.Bye, reason
	}
}

// parseCount parses "1 noun" or "N nouns".
func parseCount(s, noun string) (int, bool) {
	num, word, found := strings.Cut(s, " ")
	n, err := strconv.Atoi(num)
	if !found || err != nil || n < 0 {
		return 0, false
	}
	if n == 1 && word == noun || n != 1 && word == noun+"s" {
		return n, true
	}
	return 0, false
}

// parseStamp reads a leading "[hh:mm:ss] " and dates it on the latest day,
// not after now, with that time of day (UTC).
func parseStamp(line string, now time.Time) (time.Time, bool) {
	if len(line) < stampLen || line[0] != '[' || line[3] != ':' || line[6] != ':' || line[9] != ']' || line[10] != ' ' {
		return time.Time{}, false
	}
	h, okH := twoDigits(line[1:3], 23)
	m, okM := twoDigits(line[4:6], 59)
	s, okS := twoDigits(line[7:9], 59)
	if !okH || !okM || !okS {
		return time.Time{}, false
	}
	now = now.UTC()
	t := time.Date(now.Year(), now.Month(), now.Day(), h, m, s, 0, time.UTC)
	if t.After(now.Add(time.Minute)) { // allow for clock skew
		t = t.AddDate(0, 0, -1)
	}
	return t, true
}

func twoDigits(s string, maxValue int) (int, bool) {
	if s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	n := int(s[0]-'0')*10 + int(s[1]-'0')
	return n, n <= maxValue
}
