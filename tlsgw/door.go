package tlsgw

import (
	"errors"

	"chatd/access"
	"chatd/room"
)

// Refusal classes, as counted in Stats.Refused and labelled in metrics.
const (
	RefusedPolicy = access.ClassPolicy // access.RefusedByPolicy
	RefusedBanned = access.ClassBanned // access.RefusedBanned
	RefusedOther  = access.ClassOther  // an error that is not an *access.Refusal
)

// admit asks the door (Config.Door), once the handshake is done and
// before the nickname prompt, whether the client may come in. A refused
// client is sent its refusal as its last line (a room.Bye with
// room.ReasonRefused, "!!! disconnected: refused: " and the door's
// words) and the server's side of the connection is ended as for a client
// that did not join; admit then returns why, for the connection's log
// record, and "" if the client was admitted.
func (s *session) admit() string {
	door := s.srv.cfg.Door
	if door == nil {
		return ""
	}
	id := s.identity()
	err := door.Admit(id)
	if err == nil {
		return ""
	}
	class := access.RefusalClass(err)
	s.srv.countRefusal(class)
	s.logger().Info("refused at the door", "identity", id, "refusal", class)
	s.send(&room.Event{Kind: room.Bye, Reason: room.Reason{Kind: room.ReasonRefused, Detail: access.RefusalText(err)}})
	s.finish()
	s.drain()
	return "refused: " + class
}

// joinRefused is why join ended when the room refused a nickname for
// good (see refuseJoin): reason is for the connection's log record.
type joinRefused struct{ reason string }

func (e *joinRefused) Error() string { return e.reason }

// refuseJoin answers a Join the room refused for good, with the client's
// last line, and returns why for the connection's log record; it returns
// nil, and sends nothing, for a refusal the client may answer with
// another nickname. Final are the door's refusal (an *access.Refusal: the
// room's Policy refused, as the door would have, a ban or a /disallow
// made since the door admitted the client), told and counted exactly as
// admit does; and a claim over the rate limit on registered nicknames
// (access.ErrTooManyClaims), told the same way but not counted as a
// refusal at the door: the client is not asked again, which would let it
// go on trying.
func (s *session) refuseJoin(err error) error {
	var refusal *access.Refusal
	isRefusal := errors.As(err, &refusal)
	if !isRefusal && !errors.Is(err, access.ErrTooManyClaims) {
		return nil
	}
	reason := "too many registered nicknames tried"
	if isRefusal {
		class := refusal.Class()
		s.srv.countRefusal(class)
		s.logger().Info("refused on joining", "identity", s.identity(), "refusal", class)
		reason = "refused: " + class
	}
	s.send(&room.Event{Kind: room.Bye, Reason: room.Reason{Kind: room.ReasonRefused, Detail: access.RefusalText(err)}})
	return &joinRefused{reason: reason}
}

// countRefusal counts a refusal at the door, by class.
func (s *Server) countRefusal(class string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused[class]++
}
