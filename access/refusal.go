package access

import (
	"errors"
	"unicode/utf8"

	"chatd/room"
)

// Refusal classes: how the gateways sort the door's refusals in their
// counts, log records and metrics (the class label of
// chatd_door_refusals_total).
const (
	ClassPolicy = "policy" // RefusedByPolicy
	ClassBanned = "banned" // RefusedBanned
	ClassOther  = "other"  // any other refusal, or an error that is not a *Refusal
)

// MaxRefusalBytes bounds the words of a refusal a connection is told
// (RefusalText).
const MaxRefusalBytes = 1024

// Class is the refusal's class: ClassPolicy, ClassBanned, or ClassOther
// for a Kind that is neither.
func (r *Refusal) Class() string {
	switch r.Kind {
	case RefusedByPolicy:
		return ClassPolicy
	case RefusedBanned:
		return ClassBanned
	}
	return ClassOther
}

// RefusalClass is the class of the *Refusal that err is or wraps, and
// ClassOther if it wraps none.
func RefusalClass(err error) string {
	var r *Refusal
	if !errors.As(err, &r) {
		return ClassOther
	}
	return r.Class()
}

// RefusalText is what a refused connection is told: err's words on one
// line, cleaned of anything a terminal would act on (room.Clean), and at
// most MaxRefusalBytes of them, cut at a rune boundary and marked "…".
func RefusalText(err error) string {
	text := room.Clean(err.Error())
	if len(text) <= MaxRefusalBytes {
		return text
	}
	cut := MaxRefusalBytes
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + "…"
}
