package access

import (
	"strings"
	"sync"
	"testing"
	"time"

	"chatd/room"
)

// peerBus is a room.Bus that lists members of other nodes.
type peerBus struct {
	mu    sync.Mutex
	peers []room.Peer
}

func (b *peerBus) Peers() []room.Peer {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]room.Peer(nil), b.peers...)
}

func (b *peerBus) MembersChanged() {}

func (b *peerBus) Whisper(room.Sender, string, string) (string, error) {
	return "", room.ErrNotDelivered
}

// remoteFixture is a governed room (see newGoverned) whose bus lists, on
// node b: ghost (unregistered, TLS), owen (an owner's key) and a member
// whose node sent nonsense credentials.
func remoteFixture(t *testing.T) (*governed, *relayed) {
	since := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	bus := &peerBus{peers: []room.Peer{
		{Nick: "Ghost", Node: "b", Transport: room.TransportTLS, Joined: since, Identity: tlsID("ghost", "198.51.100.7")},
		{Nick: "owen", Node: "b", Transport: room.TransportSSH, Joined: since, Identity: sshID("owen", "198.51.100.8")},
		{Nick: "forged", Node: "b", Transport: room.TransportSSH, Joined: since,
			Identity: room.Identity{Transport: room.TransportSSH, Address: "not an address", KeyFingerprint: "SHA256:nonsense"}},
	}}
	relay := &relayed{}
	return newGoverned(t, options{relay: relay, bus: bus, admins: ownerLine("owen")}), relay
}

// TestBanRemote: /ban of an unregistered member of another node bans its
// certificate and address (which its node then enforces through the
// watched bans); /whois shows its node, never its address.
func TestBanRemote(t *testing.T) {
	g, _ := remoteFixture(t)
	lines := run(g.oscar, "/ban ghost spam")
	contains(t, lines, "banned Ghost: 2 credentials and addresses; removed 0 present")
	if r := refusal(t, g.d, tlsID("ghost", "203.0.113.1")); r == nil || r.Kind != RefusedBanned {
		t.Errorf("ghost's certificate at the door: %+v", r)
	}
	if r := refusal(t, g.d, sshID("someone", "198.51.100.7")); r == nil || r.Kind != RefusedBanned {
		t.Errorf("ghost's address at the door: %+v", r)
	}
	who := run(g.oscar, "/whois owen")
	contains(t, who, "owen: owner")
	contains(t, who, "here now on node b over ssh since 2026-12-01 11:00:00 UTC")
	if strings.Contains(strings.Join(who, "\n"), "198.51.100") {
		t.Errorf("/whois shows another node's member's address:\n%s", strings.Join(who, "\n"))
	}
	contains(t, run(g.oscar, "/ban forged"), `"forged" has neither a credential nor an address to ban`)
	contains(t, run(g.oscar, "/ban nobody"), `no one called "nobody" is here or registered`)
}

// TestKickRemoteRanks: /kick of another node's member is checked against
// its rank as a local one's: an operator cannot kick an owner there, nor
// can an owner; a member is relayed.
func TestKickRemoteRanks(t *testing.T) {
	g, relay := remoteFixture(t)
	contains(t, run(g.oscar, "/kick owen"), "permission denied: owen is an owner; only owners can do that")
	contains(t, run(g.olive, "/kick owen"), "permission denied: owen is an owner")
	contains(t, run(g.oscar, "/kick ghost flooding"), "the other nodes were asked to kick Ghost")
	relay.mu.Lock()
	defer relay.mu.Unlock()
	if len(relay.kicks) != 1 || !strings.HasPrefix(relay.kicks[0], "Ghost ") {
		t.Errorf("relayed kicks %q, want ghost's alone", relay.kicks)
	}
}
