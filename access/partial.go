package access

import (
	"context"
	"errors"
	"fmt"
)

// ErrPartial is wrapped by the errors of commands whose several changes
// the Backend kept only some of: something changed, not everything.
var ErrPartial = errors.New("the access store failed part-way")

// partialError is a multi-record change the Backend failed part-way
// through: done of total changes were kept.
type partialError struct {
	done, total int
	check       string // the command that shows what holds, or ""
	err         error
}

func (e *partialError) Error() string {
	s := fmt.Sprintf("%s: %d of %d changes were kept", ErrPartial, e.done, e.total)
	if e.check != "" {
		s += "; run " + e.check + " to see what holds"
	}
	return s + "; running the command again is safe"
}

func (e *partialError) Unwrap() []error { return []error{ErrPartial, e.err} }

// partial returns err as it should reach the user after done of total
// changes were kept: a plain store error if none was, else a
// *partialError, logged with the keys left changed.
func (d *Directory) partial(what, check string, done, total int, keys []string, err error) error {
	if done == 0 {
		return err
	}
	d.log.Error("access: a change failed part-way; these records were changed", "op", what,
		"done", done, "total", total, "keys", keys, "err", err)
	return &partialError{done: done, total: total, check: check, err: err}
}

// detached is ctx without its cancellation, for a rollback that must run
// even though ctx ended (store bounds each call with its own timeout).
func detached(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }
