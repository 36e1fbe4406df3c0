package tlsgw

import (
	"errors"
	"unicode/utf8"

	"chatd/access"
	"chatd/room"
)

// maxRefusalBytes bounds the words of a refusal a client is told.
const maxRefusalBytes = 1024

// Refusal classes, as counted in Stats.Refused and labelled in metrics.
const (
	RefusedPolicy = "policy" // access.RefusedByPolicy
	RefusedBanned = "banned" // access.RefusedBanned
	RefusedOther  = "other"  // an error that is not an *access.Refusal
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
	class := refusalClass(err)
	s.srv.countRefusal(class)
	s.logger().Info("refused at the door", "identity", id, "refusal", class)
	s.send(&room.Event{Kind: room.Bye, Reason: room.Reason{Kind: room.ReasonRefused, Detail: refusalText(err)}})
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
		class := refusalClass(err)
		s.srv.countRefusal(class)
		s.logger().Info("refused on joining", "identity", s.identity(), "refusal", class)
		reason = "refused: " + class
	}
	s.send(&room.Event{Kind: room.Bye, Reason: room.Reason{Kind: room.ReasonRefused, Detail: refusalText(err)}})
	return &joinRefused{reason: reason}
}

// refusalClass sorts a door's refusal into one of the Refused classes.
func refusalClass(err error) string {
	var r *access.Refusal
	if !errors.As(err, &r) {
		return RefusedOther
	}
	switch r.Kind {
	case access.RefusedByPolicy:
		return RefusedPolicy
	case access.RefusedBanned:
		return RefusedBanned
	}
	return RefusedOther
}

// refusalText is what a refused client is told: the refusal's words on
// one line, cleaned of anything a terminal would act on, and at most
// maxRefusalBytes of them.
func refusalText(err error) string {
	text := room.Clean(err.Error())
	if len(text) <= maxRefusalBytes {
		return text
	}
	cut := maxRefusalBytes
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + "…"
}

// countRefusal counts a refusal at the door, by class.
func (s *Server) countRefusal(class string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused[class]++
}
