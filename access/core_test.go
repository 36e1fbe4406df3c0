package access

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"chatd/internal/metricstest"
	"chatd/room"
)

// carolKey is an authorized_keys line made by ssh-keygen, and its
// fingerprint as ssh-keygen -lf prints it.
const (
	carolKey   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIODLktglQdax9iKwFJ2PACBiXUTFr6qAz5+eZYiTV6Ut carol@example"
	carolKeyFP = "SHA256:Rk7nJgjhn+TaBwY6CwxWbYlWLhruoHdAjojR2O/x0uY"
)

func TestParsePolicy(t *testing.T) {
	for _, p := range []Policy{Open, Registered, Allowlist} {
		got, err := ParsePolicy(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePolicy(%q) = %v, %v", p.String(), got, err)
		}
	}
	if _, err := ParsePolicy("closed"); err == nil {
		t.Error("ParsePolicy(closed) succeeded")
	}
	if Policy(9).String() != "Policy(9)" {
		t.Errorf("Policy(9).String() = %q", Policy(9).String())
	}
}

// TestListFile: an admins file takes authorized_keys lines (whose comment
// names the owner), SHA256: and sha256: fingerprints (a comment after one
// names its holder too), blank lines and comments; a bad line is an error naming the file and line.
func TestListFile(t *testing.T) {
	good := "# owners\n\n" + carolKey + "\n" + keyFP("dave") + "\nsha256:" + strings.ToLower(strings.ReplaceAll(certFP("erin"), ":", "")) + "\n" +
		"sha256:" + certFP("frank") + "   frank's  laptop\n"
	entries, err := parseList("admins", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := []listEntry{
		{Cred: Credential{Kind: SSHKey, Fingerprint: carolKeyFP}, Name: "carol@example"},
		{Cred: Credential{Kind: SSHKey, Fingerprint: keyFP("dave")}},
		{Cred: Credential{Kind: TLSCert, Fingerprint: certFP("erin")}},
		{Cred: Credential{Kind: TLSCert, Fingerprint: certFP("frank")}, Name: "frank's laptop"},
	}
	if len(entries) != len(want) {
		t.Fatalf("entries = %+v", entries)
	}
	for i := range want {
		if entries[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, entries[i], want[i])
		}
	}
	_, err = parseList("admins", []byte("# ok\n"+keyFP("dave")+"\nnot a key\n"))
	if err == nil || !strings.Contains(err.Error(), "admins:3:") || !errors.Is(err, ErrBadCredential) {
		t.Errorf("bad line: %v", err)
	}
	many := strings.Repeat(keyFP("dave")+"\n", MaxListEntries+1)
	if _, err := parseList("admins", []byte(many)); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("too many entries: %v", err)
	}
	if _, err := parseList("admins", []byte(strings.Repeat("x", maxCredentialLine+10))); err == nil {
		t.Error("an overlong line was accepted")
	}
	big := writeFile(t, "big", strings.Repeat("#", MaxListFileBytes+1))
	if _, err := readListFile(big); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Errorf("a file too big: %v", err)
	}
}

// TestReloadKeepsOwnersOnBadFile: Reload re-reads the admins file; a bad
// file keeps the owners as they were.
func TestReloadKeepsOwnersOnBadFile(t *testing.T) {
	f := newFixture(t, options{admins: ownerLine("olive")})
	olive, dave := sshID("olive", "192.0.2.1"), sshID("dave", "192.0.2.2")
	if !f.d.Operator(olive) || f.d.Operator(dave) {
		t.Fatal("olive should be the owner, dave not")
	}
	path := f.d.admins
	if err := writeString(path, ownerLine("dave")); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Reload(); err != nil {
		t.Fatal(err)
	}
	if f.d.Operator(olive) || !f.d.Operator(dave) {
		t.Fatal("after Reload, dave should be the owner, olive not")
	}
	if err := writeString(path, "garbage\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Reload(); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Fatalf("Reload of a bad file: %v", err)
	}
	if !f.d.Operator(dave) {
		t.Fatal("a bad file dropped the owners")
	}
}

// TestHostileRecords: stored records that fail their checks are skipped,
// counted and logged; the good ones load.
func TestHostileRecords(t *testing.T) {
	ctx := context.Background()
	b := NewMemoryBackend(nil)
	good := accountRecord{V: 1, Nick: "alice", Creds: []string{keyFP("alice")}, Since: time.Now()}
	put := func(bucket Bucket, key, val string) {
		if err := b.Put(ctx, bucket, key, []byte(val), 0); err != nil {
			t.Fatal(err)
		}
	}
	putHostile(put, string(encode(good)))
	f := newFixture(t, options{backend: b})
	_, series, err := metricstest.Gather(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	// eve, of no known date, claims alice's key: alice, the older, keeps
	// it; all the others are bad.
	if got := series["chatd_access_bad_records_total"]; got != 13 {
		t.Errorf("bad records = %v, want 13", got)
	}
	if n := strings.Count(f.logText(), "skipping a bad stored record"); n != 13 {
		t.Errorf("%d bad records logged, want 13", n)
	}
	if len(f.d.v.accounts) != 1 || f.d.v.accounts[keyOf("alice")] == nil || len(f.d.v.bans) != 0 || f.d.v.motd.Text != "" || len(f.d.v.roles) != 0 {
		t.Errorf("view after hostile records: %v accounts, %d bans, motd %q", slices.Collect(maps.Keys(f.d.v.accounts)), len(f.d.v.bans), f.d.v.motd.Text)
	}
}

// TestSharedCredentialLoad: a credential two stored accounts claim stays
// with the older, every load, and the log names both.
func TestSharedCredentialLoad(t *testing.T) {
	ctx := context.Background()
	b := NewMemoryBackend(nil)
	older := accountRecord{V: 1, Nick: "zoe", Creds: []string{keyFP("twin")}, Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	newer := accountRecord{V: 1, Nick: "amy", Creds: []string{keyFP("twin")}, Since: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}
	for _, rec := range []accountRecord{older, newer} {
		if err := b.Put(ctx, Accounts, keyOf(rec.Nick), encode(rec), 0); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		f := newFixture(t, options{backend: b})
		if f.d.v.accounts[keyOf("zoe")] == nil || f.d.v.accounts[keyOf("amy")] != nil {
			t.Fatalf("loaded %v", slices.Collect(maps.Keys(f.d.v.accounts)))
		}
		if !strings.Contains(f.logText(), `belongs to \"zoe\" (registered 2026-01-01 00:00:00 UTC, kept: the older) and to \"amy\"`) {
			t.Fatalf("log: %s", f.logText())
		}
	}
}

// TestNewRefusesBadOptions: no backend, an unknown policy, an unreadable
// admins file.
func TestNewRefusesBadOptions(t *testing.T) {
	ctx := context.Background()
	if _, err := New(ctx, Options{}); err == nil {
		t.Error("New without a Backend succeeded")
	}
	if _, err := New(ctx, Options{Backend: NewMemoryBackend(nil), Policy: 7}); err == nil {
		t.Error("New with policy 7 succeeded")
	}
	if _, err := New(ctx, Options{Backend: NewMemoryBackend(nil), AdminsFile: t.TempDir() + "/none"}); err == nil {
		t.Error("New with a missing admins file succeeded")
	}
}

var _ = room.ErrUsage

// putHostile stores, with put, alice's good account and 13 records that
// fail their checks.
func putHostile(put func(bucket Bucket, key, val string), good string) {
	put(Accounts, keyOf("alice"), good)
	put(Accounts, "bob", `{"v":2,"nick":"bob","creds":["`+keyFP("bob")+`"]}`)              // another version
	put(Accounts, "carl", `{"v":1,"nick":"carl","creds":[]}`)                              // no credentials
	put(Accounts, "dan2", `{"v":1,"nick":"dan","creds":["`+keyFP("dan")+`"]}`)             // key not its nick's
	put(Accounts, "eve", `{"v":1,"nick":"eve","creds":["`+keyFP("alice")+`"]}`)            // alice's key
	put(Accounts, "fay", `{"v":1,"nick":"fay","creds":["SHA256:nope"]}`)                   // bad credential
	put(Accounts, "gil", `{"v":1,"nick":"gil","creds":["`+keyFP("gil")+`"],"admin":true}`) // unknown field
	put(Accounts, "h\x1bj", `{"v":1,"nick":"h\u001bj","creds":["`+keyFP("h")+`"]}`)        // bad nick
	put(Accounts, "ivy", `{"v":1,"nick":"ivy","creds":["`+keyFP("ivy")+`"]} {}`)           // trailing
	put(Roles, "zed", `not json`)
	put(Bans, "ip:0.0.0.0/0", `{"v":1,"target":"ip=0.0.0.0/0","by":"x","since":"2026-01-01T00:00:00Z"}`)
	put(Bans, "fp:"+keyFP("m"), `{"v":1,"target":"fp=`+keyFP("m")+`","by":"x\u001b[31m","since":"2026-01-01T00:00:00Z"}`)
	put(Settings, "motd", `{"v":1,"text":"`+strings.Repeat("a", MaxMOTDBytes+1)+`","by":"x"}`)
	put(Settings, "other", `{}`)
}
