package access

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Link codes let a member add a credential to its account by proving it:
// /register link, from a connection holding one of the account's
// credentials, answers a one-time code; /register CODE, from a
// connection presenting the new credential, adds that credential. The
// codes are kept in memory (a restart forgets them), and, on a shared
// Backend, in its Links bucket too (see sharedlink.go).
const (
	// linkTTL is how long a code stays good.
	linkTTL = 10 * time.Minute
	// maxLinksPerAccount bounds the codes an account has outstanding; a
	// new one replaces the oldest.
	maxLinksPerAccount = 3
	// maxLinks bounds the codes outstanding in all.
	maxLinks = 1024
	// linkCodeLen is a code's length, in letters of linkAlphabet (about
	// 60 bits).
	linkCodeLen = 12
	// linkAlphabet has no look-alike letters.
	linkAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
)

// errBadLinkCode: the code is unknown, used or expired.
var errBadLinkCode = errors.New("that code is unknown, used or expired: run /register link again from a connection that holds the account's credential")

// linkCode is one outstanding code.
type linkCode struct {
	account string // the account's nickname key
	expires time.Time
	seq     uint64 // the order of issue
}

// links are the outstanding link codes, bounded.
type links struct {
	mu    sync.Mutex
	codes map[string]linkCode
	seq   uint64
}

func newLinks() *links { return &links{codes: map[string]linkCode{}} }

// issue returns a fresh code for the account at key, forgetting expired
// codes and, past the bounds, the account's oldest, which it returns as
// dropped ("" if none).
func (l *links) issue(key string, now time.Time) (code, dropped string, err error) {
	code = newLinkCode()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	if l.count(key) >= maxLinksPerAccount {
		dropped = l.dropOldest(key)
	}
	if len(l.codes) >= maxLinks {
		return "", dropped, errors.New("too many link codes are outstanding; try again in a few minutes")
	}
	l.seq++
	l.codes[code] = linkCode{account: key, expires: now.Add(linkTTL), seq: l.seq}
	return code, dropped, nil
}

// redeem consumes code and returns its account's nickname key.
func (l *links) redeem(code string, now time.Time) (string, bool) {
	code = strings.ToUpper(code)
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.codes[code]
	if !ok || !now.Before(c.expires) {
		return "", false
	}
	delete(l.codes, code)
	return c.account, true
}

// forget drops the codes of the account at key (it was unregistered).
func (l *links) forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for code, c := range l.codes {
		if c.account == key {
			delete(l.codes, code)
		}
	}
}

// sweep forgets expired codes. The caller holds l.mu.
func (l *links) sweep(now time.Time) {
	for code, c := range l.codes {
		if !now.Before(c.expires) {
			delete(l.codes, code)
		}
	}
}

// count is how many codes the account at key has. The caller holds l.mu.
func (l *links) count(key string) int {
	n := 0
	for _, c := range l.codes {
		if c.account == key {
			n++
		}
	}
	return n
}

// dropOldest forgets the account's code issued first, and returns it.
// The caller holds l.mu.
func (l *links) dropOldest(key string) string {
	var oldest string
	var seq uint64
	for code, c := range l.codes {
		if c.account == key && (oldest == "" || c.seq < seq) {
			oldest, seq = code, c.seq
		}
	}
	delete(l.codes, oldest)
	return oldest
}

// newLinkCode returns a random code.
func newLinkCode() string {
	var b [linkCodeLen]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	for i := range b {
		b[i] = linkAlphabet[int(b[i])%len(linkAlphabet)]
	}
	return string(b[:])
}

// linkAnswer tells the member its code and how to use it.
func linkAnswer(nick, code string) []string {
	return []string{
		fmt.Sprintf("link code for %q: %s (good once, for %s)", nick, code, linkTTL),
		"connect with the key or certificate to add, under any nickname, and send: /register " + code,
	}
}
