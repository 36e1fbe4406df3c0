//go:build !(linux || darwin || freebsd || dragonfly)

package jetlog

// freeBytes cannot tell the room left on this system: the copy is tried,
// and skipped with a warning if it fails.
func freeBytes(string) (int64, bool) { return 0, false }
