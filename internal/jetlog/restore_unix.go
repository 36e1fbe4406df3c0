//go:build unix

package jetlog

import (
	"os"
	"syscall"
)

// fileInode is the inode number of the file at path.
func fileInode(path string) (uint64, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Ino), true
}
