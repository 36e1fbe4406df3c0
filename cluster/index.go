package cluster

import (
	"cmp"
	"slices"
	"strings"

	"chatd/room"
)

// This file is the index of the other nodes' members: built off the lock
// whenever a record changes (or a node stops or starts being live), and
// swapped in whole, so that the room's questions (Peers, under its member
// lock; Peer and nodeOf, at every /msg) cost no decoding, sorting or
// scanning.

// peerIndex is an immutable view of the members of the other live nodes.
type peerIndex struct {
	// nodes are the nodes listed, sorted.
	nodes []string
	// peers are their members, at most room.MaxPeers, sorted as the room
	// sorts its own (room.CompareNicks). Shared: never modified.
	peers []room.Peer
	// byKey finds a member of peers by room.NickKey (the first listed,
	// if two nodes list look-alikes).
	byKey map[string]int
}

// find returns the member called nick (or a look-alike).
func (x *peerIndex) find(nick string) (room.Peer, bool) {
	i, ok := x.byKey[room.NickKey(nick)]
	if !ok {
		return room.Peer{}, false
	}
	return x.peers[i], true
}

// reindex asks the indexer to build the index again; it never blocks.
func (n *Node) reindex() {
	select {
	case n.reindexC <- struct{}{}:
	default:
	}
}

// indexer builds the index whenever asked, until the node stops: one
// build for any number of changes meanwhile.
func (n *Node) indexer() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case <-n.reindexC:
			n.buildIndex()
		}
	}
}

// reindexIfLiveChanged asks for a build if the live nodes are no longer
// those of the index (one stopped renewing, or is back).
func (n *Node) reindexIfLiveChanged() {
	if !slices.Equal(n.liveOthers(), n.index.Load().nodes) {
		n.reindex()
	}
}

// liveOthers lists the other live nodes, sorted.
func (n *Node) liveOthers() []string {
	now := n.o.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	var names []string
	for name, e := range n.nodes {
		if name != n.o.Node && n.live(e, now) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// buildIndex builds the index from the replica and swaps it in. Only the
// copy of the live records' pointers is made under n.mu (records are
// never modified once decoded).
func (n *Node) buildIndex() {
	n.indexMu.Lock()
	defer n.indexMu.Unlock()
	now := n.o.Now()
	n.mu.Lock()
	recs := make(map[string]*presence)
	for name, e := range n.nodes {
		if name != n.o.Node && n.live(e, now) {
			recs[name] = e.p
		}
	}
	n.mu.Unlock()
	x := &peerIndex{nodes: make([]string, 0, len(recs))}
	for name := range recs {
		x.nodes = append(x.nodes, name)
	}
	slices.Sort(x.nodes)
	type row struct {
		low string
		p   room.Peer
	}
	var rows []row
	for _, name := range x.nodes {
		for _, m := range recs[name].Members {
			if len(rows) >= room.MaxPeers {
				break
			}
			rows = append(rows, row{strings.ToLower(m.Nick), room.Peer{Nick: m.Nick, Node: name, Transport: m.Transport, Joined: m.Joined, Identity: m.Identity.identity()}})
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int { return cmp.Or(cmp.Compare(a.low, b.low), cmp.Compare(a.p.Nick, b.p.Nick)) })
	x.peers = make([]room.Peer, len(rows))
	x.byKey = make(map[string]int, len(rows))
	for i, r := range rows {
		x.peers[i] = r.p
		if key := room.NickKey(r.p.Nick); !hasKey(x.byKey, key) {
			x.byKey[key] = i
		}
	}
	n.index.Store(x)
}

// hasKey reports whether m has key.
func hasKey(m map[string]int, key string) bool {
	_, ok := m[key]
	return ok
}
