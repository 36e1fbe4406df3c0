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
