package access

import (
	"context"
	"errors"
	"strings"
	"testing"

	"chatd/internal/metricstest"
	"chatd/room"
)

// refusal returns Admit's refusal of id, or nil.
func refusal(t *testing.T, d *Directory, id room.Identity) *Refusal {
	t.Helper()
	err := d.Admit(id)
	if err == nil {
		return nil
	}
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("Admit: %v is no *Refusal", err)
	}
	return r
}

// TestPolicies: open admits all; registered admits registered and
// allowlisted credentials and tells the others how to get in; allowlist
// admits owners and allowlisted credentials only, failing the SSH
// authentication itself. A refused SSH key fails its authentication under
// either policy, so that ssh goes on to its next key.
func TestPolicies(t *testing.T) {
	alice, allowed, stranger := sshID("alice", "192.0.2.1"), tlsID("carl", "192.0.2.3"), sshID("zed", "192.0.2.4")
	bare := room.Identity{Transport: room.TransportTLS, Address: "192.0.2.5"}
	keyless := room.Identity{Transport: room.TransportSSH, Address: "192.0.2.6"}
	owner := sshID("olive", "192.0.2.9")
	for _, tc := range []struct {
		policy Policy
		admit  []room.Identity
		refuse []room.Identity
	}{
		{Open, []room.Identity{alice, allowed, stranger, bare, keyless, owner}, nil},
		{Registered, []room.Identity{alice, allowed, owner}, []room.Identity{stranger, bare, keyless}},
		{Allowlist, []room.Identity{allowed, owner}, []room.Identity{alice, stranger, bare, keyless}},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			// alice joins past the door, to register.
			f := newFixture(t, options{policy: tc.policy, admins: ownerLine("olive"), allowlist: "# seed\nsha256:" + certFP("carl") + "\n", pastDoor: true})
			m := f.join("alice", alice)
			run(m, "/register")
			for _, id := range tc.admit {
				if r := refusal(t, f.d, id); r != nil {
					t.Errorf("%+v refused: %v", id, r)
				}
			}
			for _, id := range tc.refuse {
				r := refusal(t, f.d, id)
				keyOverSSH := id.Transport == room.TransportSSH && id.KeyFingerprint != ""
				if r == nil || r.Kind != RefusedByPolicy || r.FailAuth != (tc.policy == Allowlist || keyOverSSH) {
					t.Errorf("%+v: %+v", id, r)
					continue
				}
				switch id {
				case stranger:
					if !strings.Contains(r.Text, "only: ask an operator to /allow your key "+keyFP("zed")) {
						t.Errorf("stranger told %q", r.Text)
					}
				case bare:
					if !strings.Contains(r.Text, "openssl req -x509") {
						t.Errorf("bare told %q", r.Text)
					}
				case keyless:
					if !strings.Contains(r.Text, "ssh-keygen -lf") || !strings.Contains(r.Text, "ssh-keygen -t ed25519") {
						t.Errorf("keyless SSH told %q", r.Text)
					}
				}
			}
			_, series, _ := metricstest.Gather(f.reg)
			if got, ok := series[`chatd_access_refusals_total{reason="policy"}`]; ok {
				t.Errorf("Admit counted %v policy refusals: the gateways count them, once a connection", got)
			}
		})
	}
}

// TestAllowDisallow: operators put a present nick's credentials or a
// fingerprint on the allowlist and take them off.
func TestAllowDisallow(t *testing.T) {
	// bare joins past the door, as no connection without a credential can.
	f := newFixture(t, options{policy: Allowlist, admins: ownerLine("olive"), pastDoor: true})
	olive := f.join("olive", sshID("olive", "192.0.2.9"))
	carl := tlsID("carl", "192.0.2.3")
	if refusal(t, f.d, carl) == nil {
		t.Fatal("carl admitted before /allow")
	}
	contains(t, run(olive, "/allow fp=sha256:"+strings.ToLower(certFP("carl"))), "allowed tls-cert sha256:"+certFP("carl"))
	if r := refusal(t, f.d, carl); r != nil {
		t.Fatalf("carl refused after /allow: %v", r)
	}
	m := f.join("carl", carl)
	contains(t, run(m, "/allow carl"), "permission denied: /allow is for the room's operators only")
	contains(t, run(olive, "/disallow carl"), "olive disallowed carl")
	if refusal(t, f.d, carl) == nil {
		t.Fatal("carl admitted after /disallow")
	}
	contains(t, run(olive, "/disallow carl"), "not on the allowlist")
	contains(t, run(olive, "/allow fp=SHA256:short"), "usage: /allow")
	contains(t, run(olive, "/allow"), "usage: /allow")
	contains(t, run(olive, "/allow nobody"), `no one called "nobody"`)
	bare := f.join("bare", room.Identity{Transport: room.TransportTLS, Address: "192.0.2.7"})
	_ = bare
	contains(t, run(olive, "/allow bare"), "without a key or certificate")
}

// TestAllowlistSeededOnce: the allowlist file adds each credential once:
// one /disallow took out stays out at the next start with the same file,
// a line new in the file is added, and /allow puts back what /disallow
// took out.
func TestAllowlistSeededOnce(t *testing.T) {
	seed := "sha256:" + certFP("carl") + "\n" + keyFP("dave") + "\n"
	f := newFixture(t, options{policy: Allowlist, admins: ownerLine("olive"), allowlist: seed})
	olive := f.join("olive", sshID("olive", "192.0.2.9"))
	contains(t, run(olive, "/disallow fp=sha256:"+certFP("carl")), "olive disallowed sha256:"+certFP("carl"))
	restart := func(file string) *fixture {
		return newFixture(t, options{policy: Allowlist, admins: ownerLine("olive"), allowlist: file, backend: f.backend, clock: f.clock})
	}
	g := restart(seed + keyFP("erin") + "\n")
	if refusal(t, g.d, tlsID("carl", "192.0.2.3")) == nil {
		t.Error("the allowlist file put back a credential /disallow took out")
	}
	for _, id := range []room.Identity{sshID("dave", "192.0.2.4"), sshID("erin", "192.0.2.5")} {
		if r := refusal(t, g.d, id); r != nil {
			t.Errorf("%s refused: %v", id.KeyFingerprint, r)
		}
	}
	contains(t, run(g.join("olive", sshID("olive", "192.0.2.9")), "/allow fp=sha256:"+certFP("carl")), "allowed tls-cert")
	h := restart(seed)
	if r := refusal(t, h.d, tlsID("carl", "192.0.2.3")); r != nil {
		t.Errorf("carl refused after /allow put him back: %v", r)
	}
}

// TestLocksEveryoneOut: a closed policy with no owner, an empty
// allowlist and (registered) no account lets nobody in; any one of them
// opens it.
func TestLocksEveryoneOut(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    options
		want bool
	}{
		{"open", options{}, false},
		{"registered, nobody", options{policy: Registered}, true},
		{"allowlist, nobody", options{policy: Allowlist}, true},
		{"registered, an owner", options{policy: Registered, admins: ownerLine("olive")}, false},
		{"allowlist, a listed certificate", options{policy: Allowlist, allowlist: "sha256:" + certFP("carl") + "\n"}, false},
	} {
		if got := newFixture(t, tc.o).d.LocksEveryoneOut(); got != tc.want {
			t.Errorf("%s: LocksEveryoneOut = %v, want %v", tc.name, got, tc.want)
		}
	}
	f := newFixture(t, options{pastDoor: true})
	run(f.join("alice", tlsID("alice", "192.0.2.1")), "/register")
	d, err := New(context.Background(), Options{Backend: f.backend, Policy: Registered})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.LocksEveryoneOut() {
		t.Error("a registered-only room with an account locks everyone out")
	}
}
