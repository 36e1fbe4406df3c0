package room

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

// TestPeer: Room.Peer finds another node's member by its nickname or a
// look-alike, with the identity its node told; Roster tells the local
// members' identities.
func TestPeer(t *testing.T) {
	ghost := Identity{Transport: TransportTLS, Address: "198.51.100.7", CertFingerprint: "AB:CD"}
	r := newTestRoom(t, Config{Bus: &stubBus{peers: []Peer{{Nick: "Ghost", Node: "b", Transport: TransportTLS, Identity: ghost}}}})
	defer r.Close("done")
	if p, ok := r.Peer("GH0ST"); !ok || p.Nick != "Ghost" || p.Node != "b" || p.Identity != ghost {
		t.Errorf("Peer(GH0ST) = %+v, %v", p, ok)
	}
	if p, ok := r.Peer("nobody"); ok {
		t.Errorf("Peer(nobody) = %+v", p)
	}
	bob := Identity{Transport: TransportSSH, Address: "192.0.2.1", KeyFingerprint: "SHA256:bob"}
	if _, err := r.Join("bob", JoinOptions{Identity: bob}); err != nil {
		t.Fatal(err)
	}
	if roster := r.Roster(); len(roster) != 1 || roster[0].Identity != bob {
		t.Errorf("Roster: %+v", roster)
	}
	alone := newTestRoom(t, Config{})
	defer alone.Close("done")
	if _, ok := alone.Peer("Ghost"); ok {
		t.Error("a room without a Bus found a peer")
	}
}

// elsewhereNicks is a nickname store in which "gus" is claimed by a
// member of another node (Member 0) with identity owner; a claim of it by
// owner takes it over, as the cluster's does once that node no longer has
// gus.
type elsewhereNicks struct {
	*MemoryNicks
	mu     sync.Mutex
	owner  Identity
	claims int
}

func (s *elsewhereNicks) Claim(nick string, c NickClaim) error {
	if nickKey(nick) == nickKey("gus") {
		s.mu.Lock()
		s.claims++
		s.mu.Unlock()
		if !c.Identity.owns(s.owner) {
			return errNickInUse(nick)
		}
		if err := s.MemoryNicks.Release(nick, NickClaim{Identity: s.owner}); err != nil {
			return err
		}
	}
	return s.MemoryNicks.Claim(nick, c)
}

// TestJoinTakesOverElsewhere: a joiner whose identity owns another node's
// claim of its nickname is let through to the store (which decides); any
// other identity is refused by the room without asking it.
func TestJoinTakesOverElsewhere(t *testing.T) {
	gus := Identity{Transport: TransportTLS, Address: "192.0.2.7", CertFingerprint: "AB:CD"}
	nicks := &elsewhereNicks{MemoryNicks: NewMemoryNicks(10, nil), owner: gus}
	if err := nicks.MemoryNicks.Claim("gus", NickClaim{Identity: gus}); err != nil {
		t.Fatal(err)
	}
	r := newTestRoom(t, Config{Nicks: nicks, Bus: &stubBus{}})
	defer r.Close("done")
	zed := Identity{Transport: TransportTLS, Address: "192.0.2.8", CertFingerprint: "EF:01"}
	if _, err := r.Join("gus", JoinOptions{Identity: zed}); !errors.Is(err, ErrNickTaken) || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("another identity joining as gus: %v, want in use", err)
	}
	if nicks.claims != 0 {
		t.Errorf("the store was asked %d times for another identity", nicks.claims)
	}
	if _, err := r.Join("gus", JoinOptions{Identity: gus}); err != nil {
		t.Errorf("gus's identity joining as gus: %v", err)
	}
}
