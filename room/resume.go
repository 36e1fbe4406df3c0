package room

import "fmt"

// What a resume is shown, and when it is served from the recent history
// instead (JoinOptions.Resume, Room.ResumeAt).

// DefaultResumeSize is how many missed events a resuming member is
// replayed at most when Config.ResumeSize is left zero: more than a
// joiner's history (DefaultHistorySize), so that a client away for a
// while is shown all it missed, and within what the bundled client holds
// while a replay arrives (1024 events).
const DefaultResumeSize = 1000

// maxResumeBytes bounds the text of a resumed replay beyond its first
// Config.HistorySize events (newest first): a resume never costs the room
// much more memory than a joiner's history of long lines. The older
// events beyond it are counted as not shown.
const maxResumeBytes = 256 << 10

// replayLimit is how many events the history of a member resuming after
// floor holds at most: Config.ResumeSize for a resume, HistorySize for the
// recent history (floor 0).
func (r *Room) replayLimit(floor uint64) int {
	if floor == 0 {
		return r.cfg.HistorySize
	}
	return r.cfg.ResumeSize
}

// resumeOutbox is the outbox a resuming member needs for its replay, its
// framing, its notices, its Join, the member list and its greeting, with the room public
// events leave free (as Config.withDefaults sizes every outbox for the
// recent history).
func (c Config) resumeOutbox() int {
	need := c.ResumeSize + 16 + c.greetingRoom()
	return max(c.OutboxSize, need+4, (8*need+6)/7)
}

// eventBytes is about how much text ev holds, for maxResumeBytes.
func eventBytes(ev *Event) int {
	return 64 + len(ev.From) + len(ev.To) + len(ev.Text) + len(ev.Reason.Detail)
}

// trimResumed drops the oldest events of a resumed replay, beyond its
// newest keep, while its text is over maxResumeBytes. It returns what is
// left and how many it dropped.
func trimResumed(past []*Event, keep int) ([]*Event, int) {
	total := 0
	for i := len(past) - 1; i >= 0; i-- {
		total += eventBytes(past[i])
		if total > maxResumeBytes && len(past)-i > keep {
			return past[i+1:], i + 1
		}
	}
	return past, 0
}

// ResumeReset says why a resume request is served from the recent
// history (the point 0) rather than from the point it asked for; each
// but ResumeKept has a Notice that tells the member so.
type ResumeReset uint8

const (
	// ResumeKept: the point asked for is served (or was 0).
	ResumeKept ResumeReset = iota
	// ResetNoLog: the request named no log, so its number means nothing.
	ResetNoLog
	// ResetOtherLog: the request named another log than the room's (a
	// room restarted with its history in memory, or a store created
	// again).
	ResetOtherLog
	// ResetBeyond: the point is beyond the log's last event (the log lost
	// its tail, or the number is made up).
	ResetBeyond
	// ResetOtherEvent: the log's event at the point is not the one the
	// member was shown (the log was rolled back, as by restoring a
	// backup, and numbered other events the same).
	ResetOtherEvent
)

// Notices of the resets (ResumeReset.Notice). ResumeResetNotice is the
// one of ResetOtherLog and ResetBeyond.
const (
	ResumeResetNotice      = "your place in the history is not in this room's log (it was restarted or replaced); here is its recent history"
	ResumeNoLogNotice      = "your resume request named no log (/resume SEQ LOG), so its number means nothing here; here is the room's recent history"
	ResumeOtherEventNotice = "your place in the history is not in this room's log: the event it numbers there is another one (the log was rolled back, as by restoring a backup); here is its recent history"
)

// Notice is what a member whose resume was reset for x is told, before
// its history; "" for ResumeKept.
func (x ResumeReset) Notice() string {
	switch x {
	case ResetNoLog:
		return ResumeNoLogNotice
	case ResetOtherLog, ResetBeyond:
		return ResumeResetNotice
	case ResetOtherEvent:
		return ResumeOtherEventNotice
	}
	return ""
}

// ResumeAt is ResumeFrom, for a member that can also say which event it
// was last shown: shown reports whether the log's event numbered after is
// that one (nil: it cannot say, and the number is taken as it is). The
// room reads that event once (LogPager, one page of one event); if the log
// holds another event there, or none while it holds an earlier one, the
// log was rolled back since (a restored backup numbers new events as the
// lost ones were), and the point is 0 with ResetOtherEvent. If the log no
// longer holds it (it expired), or cannot read back (no LogPager), the
// number is taken as it is. It fails, wrapping ErrUnavailable, if a read
// fails.
func (r *Room) ResumeAt(after uint64, shown func(*Event) bool) (from uint64, reset ResumeReset, err error) {
	from, beyond, err := r.ResumeFrom(after)
	switch {
	case err != nil:
		return 0, ResumeKept, err
	case beyond:
		return 0, ResetBeyond, nil
	case from == 0 || shown == nil:
		return from, ResumeKept, nil
	}
	pager, ok := r.log.(LogPager)
	if !ok {
		return from, ResumeKept, nil
	}
	evs, err := pager.Before(after+1, 1)
	if err != nil {
		return 0, ResumeKept, fmt.Errorf("%w: the room's history could not be read: %v", ErrUnavailable, err)
	}
	if len(evs) == 1 && (evs[0].Seq != after || !shown(evs[0])) {
		return 0, ResetOtherEvent, nil
	}
	return from, ResumeKept, nil
}
