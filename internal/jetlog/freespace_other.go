//go:build !(linux || darwin || freebsd)

package jetlog

// freeBytes cannot tell the free space here: a write error is then
// retried by reloading JetStream at each check.
func freeBytes(dir string) (free uint64, ok bool) { return 0, false }
