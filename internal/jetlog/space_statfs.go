//go:build linux || darwin || freebsd || dragonfly

package jetlog

import "golang.org/x/sys/unix"

// freeBytes is the room left for an unprivileged user on the disk of dir;
// ok is false if it cannot be told.
func freeBytes(dir string) (free int64, ok bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}
