package sshgw

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// noQuestions answers a keyboard-interactive challenge that asks nothing;
// any question fails the sign-in.
var noQuestions = gossh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
	if len(questions) > 0 {
		return nil, &askedError{questions}
	}
	return nil, nil
})

type askedError struct{ questions []string }

func (e *askedError) Error() string { return "the server asked " + strings.Join(e.questions, ", ") }

// dialWith connects as user with the given authentication methods only.
func (ts *testServer) dialWith(user string, auth ...gossh.AuthMethod) (*gossh.Client, error) {
	return gossh.Dial("tcp", ts.addr, &gossh.ClientConfig{
		User: user, Auth: auth, HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: waitLimit,
	})
}

func newClientKey(t *testing.T) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// TestPasswordsAreNeverAskedFor: no password authentication is offered,
// with or without Config.NoneAuth. Without it, a client gets in with any
// key, and one without a key with keyboard-interactive and no questions;
// with it, a client that offers nothing at all gets in.
func TestPasswordsAreNeverAskedFor(t *testing.T) {
	checkGoroutines(t)
	asked := false
	password := gossh.PasswordCallback(func() (string, error) { asked = true; return "secret", nil })

	ts := startServer(t)
	if c, err := ts.dialWith("alice", password); err == nil {
		c.Close()
		t.Error("a client that only knows a password got in without NoneAuth")
	} else if !strings.Contains(err.Error(), "no supported methods remain") {
		t.Errorf("password-only client: %v", err)
	}
	if asked {
		t.Error("the client was asked for its password: password authentication is offered")
	}
	for name, auth := range map[string]gossh.AuthMethod{"any key": gossh.PublicKeys(newClientKey(t)), "keyboard-interactive": noQuestions} {
		c, err := ts.dialWith("alice", auth)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		c.Close()
	}
	if c, err := ts.dialWith("alice"); err == nil {
		c.Close()
		t.Error("a client offering nothing got in without NoneAuth")
	}

	open := startServerWith(t, Config{NoneAuth: true})
	c, err := open.dialWith("alice")
	if err != nil {
		t.Fatalf("NoneAuth: a client offering nothing: %v", err)
	}
	c.Close()
	c, err = open.dialWith("alice", password)
	if err != nil {
		t.Fatalf("NoneAuth: a client with a password: %v", err)
	}
	c.Close()
	if asked {
		t.Error("NoneAuth: the client was asked for its password")
	}
}

// TestNoneAuthMembersAreKnownByAddress: with NoneAuth a client gets in
// before it can show a key, so its identity has none, and the connection's
// log record says so.
func TestNoneAuthMembersAreKnownByAddress(t *testing.T) {
	checkGoroutines(t)
	joined, closed := joinAndLeaveLogged(t, Config{NoneAuth: true}) // alice offers a key
	id, _ := joined["identity"].(map[string]any)
	if id["address"] != "127.0.0.1" || id["key_fingerprint"] != nil || closed["key_type"] != "none" {
		t.Errorf("joined %v, closed %v: want an identity by address, without a key", joined, closed)
	}
}
