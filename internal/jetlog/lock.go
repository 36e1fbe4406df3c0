package jetlog

import (
	"errors"
	"fmt"
)

// InUseError is the error of Open (and OpenReader) for an embedded store
// locked by another log, in this process or another: a running chatd.
type InUseError struct {
	Dir    string // the store
	Lock   string // the locked file in it
	Holder string // "process N", or "another process" if its id is unknown
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("jetlog: the store %s is already in use by %s (%s is locked); stop it, or name another directory", e.Dir, e.Holder, e.Lock)
}

// ErrUnsafeStore is wrapped by the error of Open (and OpenReader) for an
// embedded store whose directory or lock file someone else could have
// planted (see lockStore).
var ErrUnsafeStore = errors.New("jetlog: unsafe store")
