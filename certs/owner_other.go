//go:build !unix

package certs

import "io/fs"

// ownerOf is -1, unknown: this system has no user IDs for files (the
// bundled client still builds here; chatd runs on Unix).
func ownerOf(fs.FileInfo) int { return -1 }
