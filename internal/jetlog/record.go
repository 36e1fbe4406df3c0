package jetlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"chatd/room"
)

// RecordVersion is the version of the stored record format, its "v" field.
// A reader refuses records of any other version.
const RecordVersion = 1

// record is one public event as stored in the stream, one JSON object per
// message. Its fields, documented for anyone who reads the stream
// (nats stream get, a future export):
//
//	v       1, the format version
//	kind    "chat", "action", "join", "leave", "nick" or "presence"
//	time    when the room accepted the event, RFC 3339 with nanoseconds
//	from    the nick that acted (chat, action, join, leave; nick: the old one)
//	to      nick: the new nickname
//	text    chat: the message; action: what was done
//	count   presence: members present
//	joined  presence: members that came since the last summary
//	left    presence: members that went since the last summary
//	reason  leave: {"kind": n, "detail": "..."}, n a room.ReasonKind
//
// Fields a kind does not use are left out. The event's sequence number is
// not stored in the record: it is the stream's sequence of the message.
type record struct {
	V      int       `json:"v"`
	Kind   string    `json:"kind"`
	Time   time.Time `json:"time"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Text   string    `json:"text,omitempty"`
	Count  int       `json:"count,omitempty"`
	Joined int       `json:"joined,omitempty"`
	Left   int       `json:"left,omitempty"`
	Reason *reason   `json:"reason,omitempty"`
}

// reason is a Leave event's room.Reason.
type reason struct {
	Kind   room.ReasonKind `json:"kind"`
	Detail string          `json:"detail,omitempty"`
}

// Bounds a decoded record must keep; they are what the room can produce.
const (
	// maxMembers bounds count, joined and left: more members than any
	// room holds (connlimit bounds connections far below this).
	maxMembers = 1 << 24
	// maxReasonKind is the highest room.ReasonKind this program knows; a
	// higher one, from a newer writer, is read as room.ReasonOther.
	maxReasonKind = room.ReasonRefused
)

// errRecord is wrapped by every error of decode.
var errRecord = errors.New("invalid stored record")

// publicKinds maps a stored kind name to the room.Kind, public ones only.
var publicKinds = func() map[string]room.Kind {
	m := make(map[string]room.Kind)
	for k := room.Kind(1); k.String() != "unknown"; k++ {
		if k.Public() {
			m[k.String()] = k
		}
	}
	return m
}()

// encode returns ev as a record. It refuses what decode would refuse, so
// the log never stores what it cannot read back; its refusals wrap
// room.ErrNotStorable (the event, not the store, is at fault).
func encode(ev *room.Event, maxText int) ([]byte, error) {
	if !ev.Kind.Public() {
		return nil, fmt.Errorf("jetlog: %w: %v events are not stored", room.ErrNotStorable, ev.Kind)
	}
	r := record{
		V: RecordVersion, Kind: ev.Kind.String(), Time: ev.Time,
		From: ev.From, To: ev.To, Text: ev.Text,
		Count: ev.Count, Joined: ev.Joined, Left: ev.Left,
	}
	if ev.Reason != (room.Reason{}) {
		r.Reason = &reason{Kind: ev.Reason.Kind, Detail: ev.Reason.Detail}
	}
	if err := r.check(maxText); err != nil {
		return nil, fmt.Errorf("jetlog: %w: %w", room.ErrNotStorable, err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // clean text needs no escaping but " and \
	if err := enc.Encode(&r); err != nil {
		return nil, fmt.Errorf("jetlog: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// decode reads a stored record, which is input like any other: whoever
// can publish to the subject can write one. Every field is checked against
// the room's rules (nicknames, clean text, lengths, counts); data longer
// than maxRecord is refused before it is parsed.
func decode(data []byte, seq uint64, maxText, maxRecord int) (*room.Event, error) {
	if len(data) > maxRecord {
		return nil, fmt.Errorf("%w: %d bytes", errRecord, len(data))
	}
	var r record
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %v", errRecord, err)
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) != 0 {
		return nil, fmt.Errorf("%w: data after the record", errRecord)
	}
	if r.V != RecordVersion {
		return nil, fmt.Errorf("%w: version %d", errRecord, r.V)
	}
	if err := r.check(maxText); err != nil {
		return nil, fmt.Errorf("%w: %v", errRecord, err)
	}
	ev := &room.Event{
		Seq: seq, Time: r.Time, Kind: publicKinds[r.Kind],
		From: r.From, To: r.To, Text: r.Text,
		Count: r.Count, Joined: r.Joined, Left: r.Left,
	}
	if r.Reason != nil {
		ev.Reason = room.Reason{Kind: r.Reason.Kind, Detail: r.Reason.Detail}
		if ev.Reason.Kind > maxReasonKind {
			ev.Reason.Kind = room.ReasonOther
		}
	}
	return ev, nil
}

// check applies the room's rules to r: a known public kind, a time, valid
// nicknames where the kind has them and nowhere else, clean text within
// maxText bytes, counts within bounds.
func (r *record) check(maxText int) error {
	kind, ok := publicKinds[r.Kind]
	if !ok {
		return fmt.Errorf("kind %.20q", r.Kind)
	}
	if r.Time.IsZero() || r.Time.Year() < 2000 || r.Time.Year() > 9999 {
		return errors.New("no time")
	}
	wantFrom := kind != room.Presence
	if err := checkNick("from", r.From, wantFrom); err != nil {
		return err
	}
	if err := checkNick("to", r.To, kind == room.NickChange); err != nil {
		return err
	}
	if err := checkText("text", r.Text, maxText, kind == room.Chat || kind == room.Action); err != nil {
		return err
	}
	for _, n := range [...]int{r.Count, r.Joined, r.Left} {
		if n < 0 || n > maxMembers || (n != 0 && kind != room.Presence) {
			return fmt.Errorf("count %d", n)
		}
	}
	if r.Reason != nil {
		if kind != room.Leave {
			return errors.New("reason on a " + r.Kind)
		}
		if err := checkText("reason", r.Reason.Detail, maxText, true); err != nil {
			return err
		}
	}
	return nil
}

func checkNick(field, nick string, want bool) error {
	if !want {
		if nick != "" {
			return fmt.Errorf("%s set", field)
		}
		return nil
	}
	if err := room.ValidateNick(nick); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	return nil
}

func checkText(field, text string, maxText int, allowed bool) error {
	switch {
	case !allowed && text != "":
		return fmt.Errorf("%s set", field)
	case len(text) > maxText:
		return fmt.Errorf("%s: %d bytes", field, len(text))
	case room.Clean(text) != text:
		return fmt.Errorf("%s: not clean", field)
	}
	return nil
}

// maxRecordBytes is the longest record an event can be with text and
// reason up to maxText bytes each: JSON doubles at most a clean text's
// bytes (only " and \ are escaped), plus the nicknames, numbers, time and
// names.
func maxRecordBytes(maxText int) int {
	return 2*(2*maxText) + 1024
}
