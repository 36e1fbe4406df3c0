package main

import (
	"strings"
	"testing"

	"chatd/access"
)

// TestSSHAuthBanner: only the allowlist policy shows SSH clients a
// banner before they authenticate, saying how to get in.
func TestSSHAuthBanner(t *testing.T) {
	got := sshAuthBanner(access.Allowlist)
	for _, want := range []string{"allowlisted keys only", "ssh-keygen -lf ~/.ssh/id_ed25519.pub", "/allow"} {
		if !strings.Contains(got, want) {
			t.Errorf("allowlist banner %q lacks %q", got, want)
		}
	}
	for _, p := range []access.Policy{access.Open, access.Registered} {
		if b := sshAuthBanner(p); b != "" {
			t.Errorf("policy %v shows a banner: %q", p, b)
		}
	}
}
