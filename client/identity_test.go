package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"chatd/certs"
)

// newIdentity makes an identity in a new directory and returns its path.
func newIdentity(t *testing.T) (string, *Identity) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config", "chatd", IdentityFileName)
	id, err := LoadOrCreateIdentity(path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return path, id
}

func TestIdentityIsMadeOnFirstUseAndReused(t *testing.T) {
	path, id := newIdentity(t)
	if !id.Created || id.Path != path {
		t.Errorf("first use: Created %v, Path %q", id.Created, id.Path)
	}
	for file, want := range map[string]fs.FileMode{path: 0o600, filepath.Dir(path): 0o700 | fs.ModeDir} {
		if info, err := os.Stat(file); err != nil || info.Mode() != want {
			t.Errorf("%s: mode %v (%v), want %v", file, info.Mode(), err, want)
		}
	}
	leaf, err := x509.ParseCertificate(id.Cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Subject.String() != "CN="+certs.ClientCommonName || !leaf.NotAfter.Equal(certs.ClientNotAfter) ||
		len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || !certs.IsSelfSigned(leaf) {
		t.Errorf("certificate: subject %q, until %v, uses %v", leaf.Subject, leaf.NotAfter, leaf.ExtKeyUsage)
	}
	if want := "sha256:" + certs.Fingerprint(leaf.Raw); id.Fingerprint() != want {
		t.Errorf("Fingerprint() = %q, want %q", id.Fingerprint(), want)
	}

	again, err := LoadOrCreateIdentity(path, time.Now())
	if err != nil || again.Created || again.Fingerprint() != id.Fingerprint() {
		t.Errorf("second use: %v, Created %v, %q then %q", err, again != nil && again.Created, id.Fingerprint(), again.Fingerprint())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("the directory holds %d files, want the identity only: %v", len(entries), entries)
	}
}

func TestIdentityFileIsWhatOpenSSLTakes(t *testing.T) {
	path, _ := newIdentity(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if !strings.HasPrefix(text, "-----BEGIN CERTIFICATE-----\n") || !strings.Contains(text, "-----BEGIN PRIVATE KEY-----\n") ||
		strings.Index(text, "PRIVATE KEY") < strings.Index(text, "END CERTIFICATE") {
		t.Errorf("want a CERTIFICATE block then a PRIVATE KEY block:\n%s", text)
	}
}

func TestConcurrentFirstUseMakesOneIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chatd", IdentityFileName)
	const clients = 8
	ids := make([]*Identity, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() { ids[i], errs[i] = LoadOrCreateIdentity(path, time.Now()) })
	}
	wg.Wait()
	made := 0
	for i, id := range ids {
		if errs[i] != nil {
			t.Fatalf("client %d: %v", i, errs[i])
		}
		if id.Fingerprint() != ids[0].Fingerprint() {
			t.Errorf("client %d uses %s, client 0 %s", i, id.Fingerprint(), ids[0].Fingerprint())
		}
		if id.Created {
			made++
		}
	}
	if made != 1 {
		t.Errorf("%d clients say they made the identity, want 1", made)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

// wantIdentityError checks that loading path fails naming it, with want
// in the error and remedy in the way to fix it, and leaves it as it was.
func wantIdentityError(t *testing.T, path, want, remedy string) {
	t.Helper()
	before, _ := os.ReadFile(path)
	_, err := LoadOrCreateIdentity(path, time.Now())
	var bad *IdentityError
	if !errors.As(err, &bad) || bad.Path != path || !strings.Contains(err.Error(), want) || !strings.Contains(bad.Remedy, remedy) {
		t.Fatalf("got %v, want an IdentityError for %s saying %q, remedy %q", err, path, want, remedy)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Errorf("%s was changed", path)
	}
}

func TestIdentityReadableByOthersIsRefused(t *testing.T) {
	for _, mode := range []fs.FileMode{0o640, 0o604, 0o620} {
		path, _ := newIdentity(t)
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		wantIdentityError(t, path, "too open", "chmod 600 "+path)
	}
}

func TestIdentityInADirectoryOthersCanWriteIsRefused(t *testing.T) {
	path, _ := newIdentity(t)
	if err := os.Chmod(filepath.Dir(path), 0o777); err != nil {
		t.Fatal(err)
	}
	wantIdentityError(t, path, "writable by", "chmod go-w "+filepath.Dir(path))
}

func TestIdentityThatIsNotOneIsRefused(t *testing.T) {
	dir := t.TempDir()
	_, other := newIdentity(t)
	mine, _ := newIdentity(t)
	otherData, _ := os.ReadFile(other.Path)
	mineData, _ := os.ReadFile(mine)
	otherCert := string(otherData[:strings.Index(string(otherData), "-----BEGIN PRIVATE KEY")])
	mineKey := string(mineData[strings.Index(string(mineData), "-----BEGIN PRIVATE KEY"):])
	mineCert := string(mineData[:strings.Index(string(mineData), "-----BEGIN PRIVATE KEY")])
	if _, err := tls.X509KeyPair([]byte(mineCert+mineKey), []byte(mineCert+mineKey)); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat(mineCert, MaxIdentityCerts+1) + mineKey
	for name, c := range map[string]struct{ content, want string }{
		"empty":       {"", "failed to find any PEM data"},
		"garbage":     {"not a certificate\x00\xff", "failed to find any PEM data"},
		"cert only":   {otherCert, "found a certificate rather than a key"},
		"key only":    {mineKey, "failed to find certificate PEM data"},
		"mismatched":  {otherCert + mineKey, "private key does not match public key"},
		"long chain":  {long, "5 certificates"},
		"over 64 KiB": {strings.Repeat("#", MaxIdentityFileBytes+1), "larger than 64 KiB"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".pem")
			if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			wantIdentityError(t, path, c.want, "move it away")
		})
	}
}

func TestIdentityThatIsNotAFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	wantIdentityError(t, dir, "not a regular file", "")
	dangling := filepath.Join(dir, "dangling.pem")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	wantIdentityError(t, dangling, "no such file", "")
	if _, err := os.Stat(filepath.Join(dir, "nowhere")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an identity was written through a dangling symbolic link: %v", err)
	}
}

func TestIdentitySymlinkOfOwnIsFollowed(t *testing.T) {
	path, id := newIdentity(t)
	link := filepath.Join(t.TempDir(), "link.pem")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	got, err := LoadOrCreateIdentity(link, time.Now())
	if err != nil || got.Created || got.Fingerprint() != id.Fingerprint() {
		t.Errorf("through a link of the user's own: %v", err)
	}
}

func TestIdentityOfAnotherUserIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making files owned by another user needs root")
	}
	const nobody = 65534
	path, _ := newIdentity(t)
	link := filepath.Join(filepath.Dir(path), "planted.pem")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	wantIdentityError(t, link, "symbolic link owned by uid 65534", "rm "+link)
	if err := os.Chown(path, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	wantIdentityError(t, path, "owned by uid 65534", "rm "+path)
}

func TestOwnCertificateLine(t *testing.T) {
	_, id := newIdentity(t)
	if got := OwnCertificateLine(&tls.Config{Certificates: []tls.Certificate{*id.Cert}}); !strings.HasPrefix(got, "your certificate: "+id.Fingerprint()+" ") {
		t.Errorf("with an identity: %q", got)
	}
	for _, cfg := range []*tls.Config{nil, {}} {
		if got := OwnCertificateLine(cfg); !strings.HasPrefix(got, "your certificate: none") {
			t.Errorf("without: %q", got)
		}
	}
}
