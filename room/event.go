package room

import "time"

// Kind says what an Event reports.
type Kind uint8

// The kinds of events a member receives. Public kinds (Chat, Action, Join,
// Leave, NickChange, Presence) carry a room-wide sequence number; the others
// are addressed to one member and have Seq 0. In a room too big for
// individual joins and leaves (Config.QuietJoinsAbove) a joiner's own Join is
// addressed to it alone, with Seq 0.
//
// Each kind's comment names the Event fields it sets; the fields it does not
// name are zero. Every event has Time, except those a front end makes up
// before the member joins or after it left, which may have none. An event
// decoded from a line of the line protocol (package proto) has what the
// line shows: no Seq, no To on Private, no From on PrivateSent.
const (
	// Chat is a message to everyone. From: the sender; Text: the message.
	Chat Kind = iota + 1
	// Action is an emote from /me. From: who acts; Text: what they do.
	Action
	// Private is a message to the receiving member only. From: the sender;
	// To: the receiver (its nick when sent); Text: the message.
	Private
	// PrivateSent confirms to its sender that a private message was
	// delivered. From: the sender; To: the receiver; Text: the message.
	PrivateSent
	// Join announces that someone entered the room. From: the joiner.
	Join
	// Leave announces that someone left the room. From: the leaver;
	// Reason: why.
	Leave
	// NickChange announces a new nickname. From: the old nick; To: the new.
	NickChange
	// Members lists the members of the room. Count: how many there are;
	// Nicks: the first Config.MembersListed of them, sorted
	// case-insensitively.
	Members
	// Notice is informational text from the server. Text: the text.
	Notice
	// Error tells the receiving member that something it sent was refused.
	// Text: why.
	Error
	// HistoryBegin starts the replay of earlier public events. Count: how
	// many the replay holds.
	HistoryBegin
	// HistoryEnd ends the history replay; live events follow. No fields.
	HistoryEnd
	// Presence summarises, in a room too big for individual joins and
	// leaves, those since the last summary. Joined: members that came;
	// Left: members that went; Count: members present now.
	Presence
	// Bye is the last event of a member that is being removed, addressed to
	// it alone: the room's shutdown notice, or its front end's farewell
	// (the line protocol's "*** Goodbye."). Reason: why the member leaves;
	// Text: what it is told, or "" for the standard words of the line
	// protocol's codec for Reason.
	Bye
)

var kindNames = [...]string{
	Chat: "chat", Action: "action", Private: "private", PrivateSent: "private-sent",
	Join: "join", Leave: "leave", NickChange: "nick", Members: "members",
	Notice: "notice", Error: "error", HistoryBegin: "history-begin", HistoryEnd: "history-end",
	Presence: "presence", Bye: "bye",
}

// String names the kind, for logs and test failures.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}

// Public reports whether events of this kind go to every member and carry a
// room-wide sequence number.
func (k Kind) Public() bool {
	switch k {
	case Chat, Action, Join, Leave, NickChange, Presence:
		return true
	}
	return false
}

// Event is one thing a member is told. Which fields an event sets depends
// on its Kind; each kind's comment lists them. Events are shared between
// members and must not be modified once the room has delivered them.
type Event struct {
	Seq  uint64    // room-wide order of public events; 0 for the others
	Time time.Time // when the room accepted it
	Kind Kind
	// From is the nick that acted: the sender of Chat, Action, Private and
	// PrivateSent, the joiner, the leaver, the old nick of NickChange.
	From string
	// To is the receiver of Private and PrivateSent, the new nick of
	// NickChange.
	To string
	// Text is the message of Chat, Private and PrivateSent, the action of
	// Action, the text of Notice, Error and Bye.
	Text string
	// Nicks are the first members of Members, sorted case-insensitively.
	Nicks []string
	// Count is, for HistoryBegin, how many events the replay holds; for
	// Members and Presence, how many members are present (Members may list
	// fewer in Nicks).
	Count  int
	Joined int    // Presence: members that joined since the last summary
	Left   int    // Presence: members that left since the last summary
	Reason Reason // Leave and Bye: why the member left
	// Store says, on a Notice or an Error about the room's store, what it
	// tells: the room turned read-only (or refused a line for it), or
	// writable again; StoreNoState on every other event. Text words it.
	Store StoreState
}
