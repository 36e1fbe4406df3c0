package cluster

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
)

// entry is a key-value entry as a watch delivers it.
type entry struct {
	key   string
	value []byte
	rev   uint64
}

func (e entry) Bucket() string                  { return "CHATD_NODES" }
func (e entry) Key() string                     { return e.key }
func (e entry) Value() []byte                   { return e.value }
func (e entry) Revision() uint64                { return e.rev }
func (e entry) Created() time.Time              { return time.Now() }
func (e entry) Delta() uint64                   { return 0 }
func (e entry) Operation() jetstream.KeyValueOp { return jetstream.KeyValuePut }

// record encodes a presence record of node with members members.
func record(t *testing.T, node string, members int) []byte {
	t.Helper()
	p := presence{Version: recordVersion, Node: node, Incarnation: "0123456789abcdef", Count: members}
	for i := range members {
		p.Members = append(p.Members, rosterRow{Nick: fmt.Sprintf("m%d", i), Transport: room.TransportTLS})
	}
	data, err := json.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestReplicaBounds: the replica of the nodes bucket keeps at most
// MaxNodes records and room.MaxPeers members in all; what would go beyond
// is refused and counted.
func TestReplicaBounds(t *testing.T) {
	n := &Node{o: Options{Now: time.Now}, maxSize: 16 << 20, nodes: make(map[string]nodeEntry)}
	n.metrics = newMetrics(n)
	for i := range MaxNodes {
		n.applyNode(entry{key: fmt.Sprint("n", i), value: record(t, fmt.Sprint("n", i), 0), rev: uint64(i + 1)})
	}
	n.applyNode(entry{key: "late", value: record(t, "late", 0), rev: 1000})
	if _, ok := n.nodes["late"]; ok || len(n.nodes) != MaxNodes {
		t.Errorf("%d nodes kept, the one beyond MaxNodes among them: %v", len(n.nodes), ok)
	}
	n.applyNode(entry{key: "n0", value: record(t, "n0", room.MaxPeers), rev: 1001})
	if got := len(n.nodes["n0"].p.Members); got != room.MaxPeers {
		t.Fatalf("n0 lists %d members, want %d", got, room.MaxPeers)
	}
	n.applyNode(entry{key: "n1", value: record(t, "n1", 1), rev: 1002})
	if _, ok := n.nodes["n1"]; ok {
		t.Error("a record beyond room.MaxPeers members in all was kept")
	}
	if got := value(n.metrics.badRecords); got != 2 {
		t.Errorf("%v bad records counted, want 2", got)
	}
}

// TestDecodeRecords: what a record must be to be believed.
func TestDecodeRecords(t *testing.T) {
	good := `{"version":1,"node":"b","incarnation":"0123456789abcdef","count":1,"members":[{"nick":"bob","transport":2}]}`
	if _, ok := decodePresence("b", []byte(good), 1<<20); !ok {
		t.Fatal("a good record refused")
	}
	for _, bad := range []string{
		`{"version":2,"node":"b","incarnation":"x","count":0}`,
		`{"version":1,"node":"b","incarnation":"x.y","count":0}`,
		`{"version":1,"node":"b","incarnation":"x","count":0,"members":[{"nick":"bob"}]}`,
		`{"version":1,"node":"b","incarnation":"x","count":1,"members":[{"nick":"bob","transport":9}]}`,
		`{"version":1,"node":"b","incarnation":"x","count":-1}`,
		`{"version":1,"node":"b","incarnation":"","count":0}`,
	} {
		if _, ok := decodePresence("b", []byte(bad), 1<<20); ok {
			t.Errorf("believed %s", bad)
		}
	}
	if _, ok := decodePresence("c", []byte(good), 1<<20); ok {
		t.Error("believed b's record under c")
	}
	if _, ok := decodePresence("b", []byte(good), 10); ok {
		t.Error("believed a record beyond its size")
	}
	nick := func(n string, member uint64, key string) []byte {
		return fmt.Appendf(nil, `{"version":1,"nick":%q,"node":"a","incarnation":"x","member":%d,"identity":{"address":%q}}`, n, member, key)
	}
	if _, ok := decodeNick(nickKVKey("Alice"), nick("alice", 1, "192.0.2.1")); !ok {
		t.Error("a good nickname record refused (under a look-alike's key)")
	}
	for _, bad := range [][]byte{nick("alice", 0, ""), nick("bob", 1, ""), nick("alice", 1, string(make([]byte, 200)))} {
		if _, ok := decodeNick(nickKVKey("alice"), bad); ok {
			t.Errorf("believed %s", bad)
		}
	}
}

// TestRosterIdentity: a presence record's members carry their identity,
// checked as the rest: an overlong field refuses the record; a node lists
// its own members without the fields it could not list.
func TestRosterIdentity(t *testing.T) {
	id := room.Identity{Transport: room.TransportSSH, Address: "192.0.2.1", KeyFingerprint: "SHA256:gus"}
	row := rosterRow{Nick: "gus", Transport: room.TransportSSH, Identity: storedIdentity(id)}
	encode := func(r rosterRow) []byte {
		data, err := json.Marshal(presence{Version: recordVersion, Node: "b", Incarnation: "0123456789abcdef", Count: 1, Members: []rosterRow{r}})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	p, ok := decodePresence("b", encode(row), 1<<20)
	if !ok || p.Members[0].Identity.identity() != id {
		t.Fatalf("decoded %+v, %v", p, ok)
	}
	long := row
	long.Identity.Address = strings.Repeat("1", maxField+1)
	if _, ok := decodePresence("b", encode(long), 1<<20); ok {
		t.Error("a member's overlong address was believed")
	}
	bad := row
	bad.Identity.Transport = 9
	if _, ok := decodePresence("b", encode(bad), 1<<20); ok {
		t.Error("a member's unknown transport was believed")
	}
	if got := rosterIdentity(room.Identity{Transport: room.TransportTLS, Address: strings.Repeat("1", maxField+1), CertFingerprint: "AB"}); got.Address != "" || got.Cert != "AB" || !got.valid() {
		t.Errorf("rosterIdentity kept %+v", got)
	}
}
