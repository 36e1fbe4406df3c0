//go:build unix

package certs

import (
	"io/fs"
	"syscall"
)

// ownerOf is the user ID that owns the file info describes, or -1 if the
// system does not say.
func ownerOf(info fs.FileInfo) int {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
