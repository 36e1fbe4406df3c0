package room

import "time"

// Kind says what an Event reports.
type Kind uint8

// The kinds of events a member receives. Public kinds (Chat, Action, Join,
// Leave, NickChange, Presence) carry a room-wide sequence number; the others
// are addressed to one member and have Seq 0. In a room too big for
// individual joins and leaves (Config.QuietJoinsAbove) a joiner's own Join is
// addressed to it alone, with Seq 0.
const (
	// Chat is a message to everyone: From said Text.
	Chat Kind = iota + 1
	// Action is an emote from /me: From does Text.
	Action
	// Private is a message from From to the receiving member only.
	Private
	// PrivateSent confirms to its sender that Text was delivered to To.
	PrivateSent
	// Join announces that From entered the room.
	Join
	// Leave announces that From left the room; Text is the reason.
	Leave
	// NickChange announces that From is now known as To.
	NickChange
	// Members lists the members of the room: Count is how many there are,
	// Nicks the first Config.MembersListed of them, sorted case-insensitively.
	Members
	// Notice is informational text from the server.
	Notice
	// Error tells the receiving member that something they sent was refused.
	Error
	// HistoryBegin starts the replay of Count earlier public events.
	HistoryBegin
	// HistoryEnd ends the history replay; live events follow.
	HistoryEnd
	// Presence summarises, in a room too big for individual joins and leaves,
	// those since the last summary: Joined members came, Left went, and Count
	// are present now.
	Presence
)

var kindNames = [...]string{
	Chat: "chat", Action: "action", Private: "private", PrivateSent: "private-sent",
	Join: "join", Leave: "leave", NickChange: "nick", Members: "members",
	Notice: "notice", Error: "error", HistoryBegin: "history-begin", HistoryEnd: "history-end",
	Presence: "presence",
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

// Event is one thing a member is told. Events are shared between members and
// must not be modified once the room has delivered them.
type Event struct {
	Seq   uint64    // room-wide order of public events; 0 otherwise
	Time  time.Time // when the room accepted it
	Kind  Kind
	From  string   // the nick that acted (sender, joiner, leaver, old nick)
	To    string   // PrivateSent: the recipient; NickChange: the new nick
	Text  string   // message, action, leave reason, notice or error text
	Nicks []string // Members: the first members, sorted case-insensitively
	// Count is, for HistoryBegin, how many events the replay holds; for
	// Members and Presence, how many members are present (Members may list
	// fewer in Nicks).
	Count  int
	Joined int // Presence: members that joined since the last summary
	Left   int // Presence: members that left since the last summary
}
