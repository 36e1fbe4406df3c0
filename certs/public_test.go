package certs

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestWritePublicIsReadableByAllWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0o077) // as under the systemd unit
	defer syscall.Umask(old)
	base := openTempDir(t)
	cert := generated(t, base)
	dir := filepath.Join(base, "public")
	path, err := WritePublic(dir, cert)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: PublicDirMode, path: PublicFileMode} {
		if info, err := os.Stat(p); err != nil || info.Mode().Perm() != want {
			t.Errorf("%s: %v, mode %v, want %v", p, err, info.Mode().Perm(), want)
		}
	}
	got, _ := os.ReadFile(path)
	want, _ := os.ReadFile(filepath.Join(base, CertFileName))
	if string(got) != string(want) {
		t.Errorf("public copy:\n%s\nwant cert.pem:\n%s", got, want)
	}
	if strings.Contains(string(got), "PRIVATE") {
		t.Error("the public copy holds a key")
	}
	if err := ReadableByOthers(path); err != nil {
		t.Errorf("ReadableByOthers(%s) = %v", path, err)
	}
}

// openTempDir returns a temporary directory that other users can pass
// into, skipping the test if a directory above the test's own (such as a
// home directory of mode 0750 holding TMPDIR) stops them.
func openTempDir(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	for _, d := range []string{base, filepath.Dir(base)} { // t.TempDir makes both 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := ReadableByOthers(base); err != nil {
		t.Skipf("other users cannot reach the temporary directory: %v", err)
	}
	return base
}

func TestReadableByOthersNamesTheObstacle(t *testing.T) {
	base := openTempDir(t)
	private := filepath.Join(base, "private")
	os.Mkdir(private, 0o700)
	file := filepath.Join(private, "cert.pem")
	os.WriteFile(file, []byte("x"), 0o644)
	var nr *NotReadableError
	if err := ReadableByOthers(file); !errors.As(err, &nr) || !nr.Dir || nr.Path != private || nr.Mode != 0o700 {
		t.Errorf("behind a 0700 directory: %v", err)
	}
	if changed, before, err := OpenToOthers(private); err != nil || !changed || before != 0o700 {
		t.Errorf("OpenToOthers = %v, %v, %v", changed, before, err)
	}
	if info, _ := os.Stat(private); info.Mode().Perm() != 0o711 {
		t.Errorf("opened to others: mode %v, want 0711", info.Mode().Perm())
	}
	if err := ReadableByOthers(file); err != nil {
		t.Errorf("behind a 0711 directory: %v", err)
	}
	if changed, _, _ := OpenToOthers(private); changed {
		t.Error("OpenToOthers changed a directory that was open already")
	}
	os.Chmod(file, 0o600)
	if err := ReadableByOthers(file); !errors.As(err, &nr) || nr.Dir || nr.Path != file {
		t.Errorf("a 0600 file: %v", err)
	}
	link := filepath.Join(base, "link.pem")
	os.Symlink(file, link)
	if err := ReadableByOthers(link); !errors.As(err, &nr) || nr.Path != file {
		t.Errorf("through a symbolic link: %v, want the real file named", err)
	}
}

// generated makes a certificate in dir and loads it.
func generated(t *testing.T, dir string) *tls.Certificate {
	t.Helper()
	g, err := EnsureSelfSigned(dir, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return g.Cert
}

// TestReadableByOthersChecksThePathAsGiven: a symbolic link inside a
// closed directory leads others nowhere, even to an open file, and so
// does a path that passes a closed directory on its way back up.
func TestReadableByOthersChecksThePathAsGiven(t *testing.T) {
	base := openTempDir(t)
	open := filepath.Join(base, "open")
	closed := filepath.Join(base, "closed")
	os.Mkdir(open, 0o755)
	os.Mkdir(closed, 0o700)
	file := filepath.Join(open, "cert.pem")
	os.WriteFile(file, []byte("x"), 0o644)
	link := filepath.Join(closed, "cert.pem")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	var nr *NotReadableError
	for _, p := range []string{link, closed + "/../open/cert.pem"} { // not cleaned
		if err := ReadableByOthers(p); !errors.As(err, &nr) || !nr.Dir || nr.Path != closed {
			t.Errorf("ReadableByOthers(%s) = %v, want %s named", p, err, closed)
		}
	}
	if err := ReadableByOthers(file); err != nil {
		t.Errorf("the file itself: %v", err)
	}
}

// TestReplaceableByOthersLikeStrictModes: a directory that its group or
// all users may write, without the sticky bit, or that another user owns,
// makes what is in it replaceable; a sticky one (as /tmp) does not.
func TestReplaceableByOthersLikeStrictModes(t *testing.T) {
	base := t.TempDir() // under the sticky /tmp, or a directory of ours
	dir := filepath.Join(base, "shared", "public")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ReplaceableByOthers(dir); err != nil {
		t.Fatalf("a fresh directory of ours: %v", err)
	}
	shared := filepath.Dir(dir)
	var re *ReplaceableError
	for _, mode := range []os.FileMode{0o775, 0o757, 0o777} {
		os.Chmod(shared, mode)
		err := ReplaceableByOthers(dir)
		if !errors.As(err, &re) || re.Path != shared || re.WrongOwn || re.Remedy() != "chmod go-w "+shared {
			t.Errorf("parent of mode %04o: %v", mode, err)
		}
	}
	os.Chmod(shared, 0o777|os.ModeSticky)
	if err := ReplaceableByOthers(dir); err != nil {
		t.Errorf("a sticky parent: %v", err)
	}
	os.Chmod(shared, 0o755)
	os.Chmod(dir, 0o777|os.ModeSticky) // sticky, but the directory itself is ours to keep
	if err := ReplaceableByOthers(dir); err != nil {
		t.Errorf("a sticky directory of ours: %v", err)
	}
	os.Chmod(dir, 0o755)
	file := filepath.Join(dir, CertFileName)
	os.WriteFile(file, []byte("x"), 0o666)
	os.Chmod(file, 0o666)
	if err := ReplaceableByOthers(file); !errors.As(err, &re) || re.Path != file {
		t.Errorf("a file all may write: %v", err)
	}
	link := filepath.Join(base, "link")
	os.Symlink(dir, link)
	os.Chmod(shared, 0o777)
	if err := ReplaceableByOthers(link); !errors.As(err, &re) || re.Path != shared {
		t.Errorf("through a symbolic link to a directory under a writable one: %v", err)
	}
	os.Chmod(shared, 0o755)
	if os.Geteuid() != 0 {
		t.Log("not root: ownership by another user is not tested")
		return
	}
	os.Chown(dir, 65534, 65534) // nobody
	if err := ReplaceableByOthers(dir); !errors.As(err, &re) || re.Path != dir || !re.WrongOwn || re.Owner != 65534 ||
		!strings.Contains(err.Error(), "uid 65534") || re.Remedy() != "chown 0 "+dir {
		t.Errorf("owned by nobody: %v", err)
	}
	os.Chown(dir, 0, 0)
	os.Lchown(link, 65534, 65534)
	if err := ReplaceableByOthers(link); !errors.As(err, &re) || re.Path != link || !re.WrongOwn || !re.Link {
		t.Errorf("a symbolic link owned by nobody: %v", err)
	}
}

// TestWritePublicRefusesADirectoryOthersCanChange: WritePublic writes
// nothing into a directory another user could change.
func TestWritePublicRefusesADirectoryOthersCanChange(t *testing.T) {
	base := t.TempDir()
	cert := generated(t, base)
	dir := filepath.Join(base, "public")
	os.Mkdir(dir, 0o777)
	os.Chmod(dir, 0o777)
	var re *ReplaceableError
	if _, err := WritePublic(dir, cert); !errors.As(err, &re) || re.Path != dir {
		t.Errorf("WritePublic into a directory all may write: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, CertFileName)); err == nil {
		t.Error("WritePublic wrote into it")
	}
}
