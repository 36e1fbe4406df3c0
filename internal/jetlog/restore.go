package jetlog

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A restored backup holds the stream as it was when the copy was made: its
// sequence numbers go back to the copy's end, and the room numbers new
// events from there, with numbers that members were already shown for
// other events. The stream's name and creation time (LogID) would be the
// same, so a client resuming past the copy's end would be resumed
// "exactly" and skip those new events. So the log's name also follows the
// copy of the store: copyName records, in the embedded store, the inode of
// its marker and a mark. A store whose marker's inode is not the one
// recorded is a copy of it (cp -a, tar, rsync, to another disk or
// back from a backup: each writes new files), and gets a new random mark,
// recorded, so that its LogID is new, and stays so across restarts. The
// store as first recorded has no mark, and keeps the LogID it had.
//
// A copy that keeps the inodes (a file system snapshot rolled back in
// place) is not noticed: the README says to restart clients then.
const (
	copyName = "chatd-copy"
	// maxCopyRecord bounds the record read: an inode and a mark.
	maxCopyRecord = 128
)

// copyMark returns the mark of the embedded store in dir ("" for the
// store as first recorded, and with an external server), recording it on
// first use and renewing it if the store's files are a copy (see
// copyName). A record that cannot be written is warned about, and the mark
// is then derived from the inode, so that it is at least the same at every
// start.
func (l *Log) copyMark() string {
	if l.srv == nil {
		return ""
	}
	dir := l.opts.Dir
	ino, ok := fileInode(filepath.Join(dir, markerName))
	if !ok {
		return ""
	}
	path := filepath.Join(dir, copyName)
	had, mark, err := readCopyRecord(path)
	switch {
	case err == nil && had == ino:
		return mark
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		l.opts.Logger.Warn("jetlog: unreadable record of the store's copy: renewing it", "path", path, "err", err)
		fallthrough
	case err == nil: // a copy of the store
		var b [9]byte
		rand.Read(b[:])
		mark = hex.EncodeToString(b[:])
		l.opts.Logger.Warn("jetlog: the store's files are a copy (restored from a backup, or moved): the log gets a new name, so clients resume from its recent history, not from their old place",
			"store", dir)
	default: // the first start that records it: this is the store
		mark = ""
	}
	if err := writeCopyRecord(path, ino, mark); err != nil {
		l.opts.Logger.Warn("jetlog: could not record the store's copy", "path", path, "err", err)
		if mark != "" {
			mark = "inode" + strconv.FormatUint(ino, 10)
		}
	}
	return mark
}

// readCopyRecord reads the inode and mark recorded at path.
func readCopyRecord(path string) (ino uint64, mark string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCopyRecord))
	if err != nil {
		return 0, "", err
	}
	fields := strings.Fields(string(b))
	if len(fields) < 1 || len(fields) > 2 {
		return 0, "", fmt.Errorf("%s: not a record of the store's copy: %.40q", path, b)
	}
	if ino, err = strconv.ParseUint(fields[0], 10, 64); err != nil {
		return 0, "", fmt.Errorf("%s: not a record of the store's copy: %.40q", path, b)
	}
	if len(fields) == 2 {
		mark = fields[1]
	}
	return ino, mark, nil
}

// writeCopyRecord records ino and mark at path, atomically.
func writeCopyRecord(path string, ino uint64, mark string) error {
	tmp := path + ".tmp"
	err := os.WriteFile(tmp, []byte(strings.TrimSpace(strconv.FormatUint(ino, 10)+" "+mark)+"\n"), 0o600)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	return err
}

// copySuffix is what the stream's name is followed by in LogID for a
// store's mark: nothing for none, so that the store as first recorded
// keeps its name.
func copySuffix(mark string) string {
	if mark == "" {
		return ""
	}
	return "\x00copy " + mark
}
