package main

import (
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"chatd/tlsgw"
)

func TestFlagsComeFromEnvironmentAndArgsWin(t *testing.T) {
	env := map[string]string{"CHATD_TLS_ADDR": ":9999", "CHATD_DATA_DIR": "/srv/chat", "CHATD_HOST": "a.example, b.example"}
	var cfg config
	fs := newServeFlags(&cfg, nil)
	if err := parseFlags(fs, []string{"--data-dir", "/tmp/x", "--host", "c.example"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if cfg.tlsAddr != ":9999" || cfg.dataDir != "/tmp/x" || cfg.sshAddr != ":2222" {
		t.Errorf("config = %+v", cfg)
	}
	if want := []string{"a.example", "b.example", "c.example"}; !slices.Equal(cfg.hosts, want) {
		t.Errorf("hosts = %q, want %q", cfg.hosts, want)
	}
}

func TestCertNeedsKey(t *testing.T) {
	cfg := config{tlsAddr: ":7443", cert: "c.pem"}
	if cfg.validate() == nil {
		t.Error("--cert without --key was accepted")
	}
}

func TestPublicDirMustNotBeTheDataDir(t *testing.T) {
	var cfg config
	fs := newServeFlags(&cfg, nil)
	if err := parseFlags(fs, []string{"--data-dir", "/srv/chat", "--public-dir", "/srv/chat/"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "--public-dir") {
		t.Errorf("--public-dir the data directory: %v", err)
	}
	cfg.publicDir = "/srv/chat/public"
	if err := cfg.validate(); err != nil {
		t.Errorf("--public-dir inside the data directory: %v", err)
	}
}

func TestTLSProfileFlag(t *testing.T) {
	var cfg config
	fs := newServeFlags(&cfg, nil)
	if err := parseFlags(fs, nil, nil); err != nil || cfg.tls.Profile != tlsgw.ProfileIntermediate {
		t.Errorf("default profile %v, %v", cfg.tls.Profile, err)
	}
	env := map[string]string{"CHATD_TLS_PROFILE": "old"}
	if err := parseFlags(fs, nil, func(k string) string { return env[k] }); err != nil || cfg.tls.Profile != tlsgw.ProfileOld {
		t.Errorf("CHATD_TLS_PROFILE=old: %v, %v", cfg.tls.Profile, err)
	}
	if err := parseFlags(fs, []string{"--tls-profile", "modern"}, nil); err != nil || cfg.tls.Profile != tlsgw.ProfileModern {
		t.Errorf("--tls-profile modern: %v, %v", cfg.tls.Profile, err)
	}
	if err := parseFlags(newServeFlags(&cfg, io.Discard), []string{"--tls-profile", "weak"}, nil); err == nil {
		t.Error("--tls-profile weak was accepted")
	}
}

// TestHistoryNotAboveWhatIsKept: a joiner cannot be shown more events than
// the store keeps; with --store memory the room keeps --history itself.
func TestHistoryNotAboveWhatIsKept(t *testing.T) {
	for _, c := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"--history", "500", "--history-keep", "10"}, false},
		{[]string{"--history", "10", "--history-keep", "10"}, true},
		{[]string{"--history", "500", "--history-keep", "10", "--store", "memory"}, true},
		{[]string{"--history-keep", "10"}, true}, // the default --history shows what is kept
	} {
		var cfg config
		if err := parseFlags(newServeFlags(&cfg, nil), c.args, nil); err != nil {
			t.Fatal(err)
		}
		err := cfg.validate()
		if (err == nil) != c.ok || err != nil && !strings.Contains(err.Error(), "--history-keep") {
			t.Errorf("%q: %v", c.args, err)
		}
		if err == nil && c.args[0] == "--history-keep" && cfg.room.HistorySize != 10 {
			t.Errorf("%q: a joiner is shown %d events, want the 10 kept", c.args, cfg.room.HistorySize)
		}
	}
}

// TestAccessFlagsThatLockOut: owners with SSH none-auth are refused,
// saying why; a closed room's flags alone are not (its store may hold
// accounts and an allowlist).
func TestAccessFlagsThatLockOut(t *testing.T) {
	file := t.TempDir() + "/list"
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string // "" accepted
	}{
		{[]string{"--access", "registered"}, ""}, // refused once the store is read (TestClosedRoomNobodyCanEnter)
		{[]string{"--access", "allowlist"}, ""},
		{[]string{"--access", "registered", "--admins", file}, ""},
		{[]string{"--access", "allowlist", "--allowlist", file}, ""},
		{[]string{"--admins", file, "--ssh-none-auth=true"}, "owners would never be known by it"},
		{[]string{"--admins", file, "--ssh-none-auth=false"}, ""},
		{[]string{"--admins", file}, ""},
		{[]string{"--ssh-none-auth=true"}, ""},
	} {
		var cfg config
		fs := newServeFlags(&cfg, nil)
		if err := parseFlags(fs, tc.args, nil); err != nil {
			t.Fatal(err)
		}
		err := cfg.checkAccess()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}
