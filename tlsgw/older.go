package tlsgw

import (
	"errors"

	"chatd/proto"
	"chatd/room"
)

// maxOlderRefused is how many older-page requests in a row may be refused
// (malformed, or asked too fast) before the client is disconnected as
// flooding: a well-behaved client waits for each answer and backs off
// when told it is busy.
const maxOlderRefused = room.DefaultFloodKick

// older answers an older-page request (docs/PROTOCOL.md, "Scrolling
// back") from a client whose events are numbered: the page as one framed
// block of numbered lines, written whole so that no live event falls
// inside it, or a one-line refusal. The log is read by the member's Older,
// which bounds the page and rate-limits the requests.
func (s *session) older(m *room.Member, line string) {
	req, err := proto.ParseOlder(line)
	if err != nil {
		s.send(&room.Event{Kind: room.Error, Text: err.Error()})
		s.refuseOlder(m)
		return
	}
	evs, err := m.Older(req.Before, req.N)
	reply := proto.OlderReply{Before: req.Before, Status: proto.OlderPage, Count: len(evs)}
	switch {
	case errors.Is(err, room.ErrPageLimit):
		reply.Status = proto.OlderBusy
	case err != nil:
		reply.Status = proto.OlderUnavailable
		s.logger().Warn("older page unavailable", "error", err)
	}
	if reply.Status != proto.OlderPage {
		s.send(proto.OlderHeader(reply))
		// The room's budget being spent by others is not this client's
		// doing: only its own refusals count.
		if reply.Status == proto.OlderBusy && !errors.Is(err, room.ErrPagesBusy) {
			s.refuseOlder(m)
		}
		return
	}
	s.olderRefused = 0
	s.writeBlock(append(append([]*room.Event{proto.OlderHeader(reply)}, evs...), proto.OlderEnd()))
}

// refuseOlder counts a refused request, and disconnects a client that
// keeps asking regardless.
func (s *session) refuseOlder(m *room.Member) {
	if s.olderRefused++; s.olderRefused >= maxOlderRefused {
		m.Leave(room.Reason{Kind: room.ReasonFlood})
	}
}

// writeBlock writes events together, in writes of about maxWriteBytes
// (each within the write timeout), holding wmu throughout. A failed write
// ends the member as a failed write of the pump's does.
func (s *session) writeBlock(events []*room.Event) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.writeFailed {
		return
	}
	var buf []byte
	for i, ev := range events {
		buf = s.appendEvent(buf, ev)
		if len(buf) < maxWriteBytes && i < len(events)-1 {
			continue
		}
		if err := s.write(buf); err != nil {
			s.writeFailed = true
			s.member.Leave(writeFailure(err))
			return
		}
		buf = buf[:0]
	}
}
