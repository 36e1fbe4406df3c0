package access

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	gossh "golang.org/x/crypto/ssh"
)

// Bounds of an admins or allowlist file.
const (
	// MaxListFileBytes bounds the size of an admins or allowlist file.
	MaxListFileBytes = 1 << 20
	// MaxListEntries bounds the entries of an admins or allowlist file.
	MaxListEntries = 1000
	// maxOwnerName bounds the name an authorized_keys comment gives.
	maxOwnerName = 64
)

// listEntry is one line of an admins or allowlist file: a credential and
// the name its authorized_keys comment gives its holder ("" if none).
type listEntry struct {
	Cred Credential
	Name string
}

// readListFile reads an admins or allowlist file: one credential a line
// (see ParseCredential), blank lines and # comments skipped. Errors name
// the file and line.
func readListFile(path string) ([]listEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxListFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("access: %s: %w", path, err)
	}
	if len(data) > MaxListFileBytes {
		return nil, fmt.Errorf("access: %s: larger than %d bytes", path, MaxListFileBytes)
	}
	return parseList(path, data)
}

// parseList parses the lines of a list file named name.
func parseList(name string, data []byte) ([]listEntry, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxCredentialLine+1)
	var out []listEntry
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(out) >= MaxListEntries {
			return nil, fmt.Errorf("access: %s:%d: more than %d entries", name, n, MaxListEntries)
		}
		entry, err := parseListLine(line)
		if err != nil {
			return nil, fmt.Errorf("access: %s:%d: %w", name, n, err)
		}
		out = append(out, entry)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("access: %s: a line longer than %d bytes", name, maxCredentialLine)
		}
		return nil, fmt.Errorf("access: %s: %w", name, err)
	}
	return out, nil
}

// parseListLine reads one entry: an authorized_keys line, or a
// fingerprint followed, after a space, by a comment naming its holder
// ("sha256:AB:CD:... alice's laptop").
func parseListLine(line string) (listEntry, error) {
	if isFingerprint(line) {
		fp, comment, _ := strings.Cut(strings.Join(strings.Fields(line), " "), " ")
		cred, err := ParseCredential(fp)
		return listEntry{Cred: cred, Name: cleanText(comment, maxOwnerName)}, err
	}
	cred, err := ParseCredential(line)
	return listEntry{Cred: cred, Name: commentName(line)}, err
}

// isFingerprint reports whether line starts as a key or certificate
// fingerprint does.
func isFingerprint(line string) bool {
	return len(line) >= 7 && strings.EqualFold(line[:7], "sha256:")
}

// commentName returns the comment of an authorized_keys line, cleaned
// and bounded, as a name for announcements; "" for a fingerprint.
func commentName(line string) string {
	_, comment, _, _, err := gossh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return ""
	}
	return cleanText(comment, maxOwnerName)
}
