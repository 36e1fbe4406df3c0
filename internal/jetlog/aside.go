package jetlog

import (
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The stream's files as they were before the server started are copied to
// beforeStartName until Open has found the stream sound: the server repairs
// a damaged stream by truncating, rewriting or removing its files, in place
// (links would not keep them), and a refused store should be kept as it
// was. A refused store's copy is renamed to damagedPrefix plus the time
// and the process id.
//
// The copy is a safeguard for a rare case, so a copy that cannot be made
// (the disk lacks room for it, the stream is over maxCopyAside bytes, a
// write fails) is skipped with a warning naming the path and why, and the
// partial copy is removed: chatd still starts, and a refusal then says no
// copy was kept. Refusing to start instead would turn a nearly full disk
// into a room that is down, for a copy that is almost never needed. With
// the default limits a stream is tens of MiB, copied in well under a
// second.
const (
	beforeStartName = "chatd-before-start"
	damagedPrefix   = "chatd-damaged-"
	maxCopyAside    = 1 << 30
	// asideMargin is the room the copy leaves free on the disk, for the
	// store itself.
	asideMargin = 64 << 20
)

// copyAside copies the files of the stream name in the store dir into
// dir/beforeStartName, replacing a copy left by an earlier start. A copy
// that cannot be made is skipped with a warning; only a stale copy that
// cannot be removed is an error (it would later pass for this start's).
func copyAside(dir, name string, logger *slog.Logger) error {
	aside := filepath.Join(dir, beforeStartName)
	if err := os.RemoveAll(aside); err != nil {
		return fmt.Errorf("jetlog: remove the copy an earlier start left in %s: %w", aside, err)
	}
	if !storeHasStream(dir, name) {
		return nil
	}
	src := streamDir(dir, name)
	skip := func(why string, err error) error {
		os.RemoveAll(aside)
		logger.Warn("jetlog: no copy of the stream's files is kept before start ("+why+"); if the store proves damaged, its files will not be kept as they were",
			"path", aside, "err", err)
		return nil
	}
	size := treeSize(src)
	if size > maxCopyAside {
		return skip("the stream is over "+strconv.Itoa(maxCopyAside>>20)+" MiB", nil)
	}
	if free, ok := freeBytes(dir); ok && free < size+asideMargin {
		return skip(fmt.Sprintf("%d MiB free on the disk, the copy needs %d MiB and leaves %d MiB", free>>20, size>>20, asideMargin>>20), nil)
	}
	if err := copyTree(src, aside); err != nil {
		return skip("the copy failed", err)
	}
	return nil
}

// treeSize is the size of the regular files under dir, in bytes.
func treeSize(dir string) int64 {
	var size int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	return size
}

// copyTree copies the directories and regular files under src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o700)
		case d.Type().IsRegular():
			return copyFile(path, to)
		}
		return nil // nothing else belongs there; the server decides
	})
}

// copyFile copies the regular file src to the new file dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// keepDamaged renames the copy of the stream's files from before the
// start to a name of its own, and says where it is, or that no copy was
// kept.
func keepDamaged(dir string) string {
	name := damagedPrefix + time.Now().UTC().Format("20060102T150405.000000000Z") + "-" + strconv.Itoa(os.Getpid())
	kept := filepath.Join(dir, name)
	if err := os.Rename(filepath.Join(dir, beforeStartName), kept); err != nil {
		return "no copy of its files from before this start was kept (see the warnings above)"
	}
	return "its files as they were before this start are in " + kept
}

// dropAside removes the copy of the stream's files from before the start.
func dropAside(dir string) { os.RemoveAll(filepath.Join(dir, beforeStartName)) }
