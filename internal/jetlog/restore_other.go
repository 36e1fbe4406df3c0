//go:build !unix

package jetlog

// fileInode is not known here: a restored store keeps its log's name.
func fileInode(string) (uint64, bool) { return 0, false }
