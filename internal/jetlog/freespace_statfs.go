//go:build linux || darwin || freebsd

package jetlog

import "syscall"

// freeBytes returns the space free for an unprivileged user on the
// filesystem holding dir; ok is false if it cannot tell.
func freeBytes(dir string) (free uint64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true
}
