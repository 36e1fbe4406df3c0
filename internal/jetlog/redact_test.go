package jetlog

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestRedactURLs(t *testing.T) {
	for in, want := range map[string]string{
		"nats://chatd:s3cretpass@127.0.0.1:4222":                       "nats://127.0.0.1:4222",
		"nats://s3crettoken@host:4222,tls://u:s3cretpass@other:4443?x": "nats://host:4222,tls://other:4443",
		"nats://host:4222":                   "nats://host:4222",
		"nats://chatd:s3cret pass@host:4222": "(an address that is not a URL)",
		"s3cretpass":                         "(an address that is not a URL)",
	} {
		if got := RedactURLs(in); got != want {
			t.Errorf("RedactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCredentialsNeverShown: the user, password or token of Options.URL
// is in no error of Open and no record it logs, whichever way the start
// fails (review finding 6); the error still says what failed, and is
// still the error it wraps (chatd's start-up advice tests ErrNoServers).
func TestCredentialsNeverShown(t *testing.T) {
	var logged strings.Builder
	logger := slog.New(slog.NewTextHandler(&logged, nil))
	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: Open worked", what)
		}
		for _, secret := range []string{"s3cretpass", "s3cret%20pass", "s3cret pass", "s3crettoken"} {
			if strings.Contains(err.Error(), secret) || strings.Contains(logged.String(), secret) {
				t.Errorf("%s: a credential is shown: %v\nlog: %s", what, err, logged.String())
			}
		}
	}
	_, err := Open(context.Background(), Options{URL: "nats://chatd:s3cretpass@127.0.0.1:1", Logger: logger, Timeout: time.Second})
	check("unreachable", err)
	if !errors.Is(err, nats.ErrNoServers) || !strings.Contains(err.Error(), "nats://127.0.0.1:1") {
		t.Errorf("unreachable: %v, want it to wrap ErrNoServers and name the server", err)
	}
	_, err = Open(context.Background(), Options{URL: "nats://s3crettoken@127.0.0.1:1,nats://chatd:s3cret%20pass@127.0.0.1:2", Logger: logger, Timeout: time.Second})
	check("unreachable, two servers", err)
	_, err = Open(context.Background(), Options{URL: "nats://chatd:s3cret pass@127.0.0.1:1", Logger: logger, Timeout: time.Second})
	check("not a URL", err)
	old := strings.Replace(fakeOldServer(t, "2.10.22"), "nats://", "nats://chatd:s3cretpass@", 1)
	_, err = Open(context.Background(), Options{URL: old, Logger: logger, Timeout: time.Second})
	check("old server", err)
	if !strings.Contains(err.Error(), "2.10.22") {
		t.Errorf("old server: %v, want it to name the version", err)
	}
}
