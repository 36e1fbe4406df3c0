package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"

	"chatd/room"
)

// This file is how a node asks another whether it still has the member
// that claimed a nickname (a "has" request), so that a member whose node
// died can take its nickname back on another node at once, without
// waiting for the dead node's burial.

// Bounds and timings of the has requests.
const (
	// probeTimeout bounds one has request; a dead node has no subscriber,
	// so NATS answers "no responders" at once.
	probeTimeout = time.Second
	// silentFor is how long a node run that nobody serves is taken for
	// dead without being asked again.
	silentFor = 3 * time.Second
	// freshClaim is how long after this node claimed a nickname it
	// answers "has" for it though the room does not list the member yet
	// (it is still joining).
	freshClaim = 5 * time.Second
	// maxProbes bounds the has requests in flight at once.
	maxProbes = 64
	// maxHasRequest and maxHasReply bound the messages.
	maxHasRequest = 1 << 10
	maxHasReply   = 64
)

// hasRequest asks a node whether its run Incarnation still has a member
// called Nick.
type hasRequest struct {
	Nick        string `json:"nick"`
	Incarnation string `json:"incarnation"`
}

// hasReply is the answer.
type hasReply struct {
	Has bool `json:"has"`
}

// probeAnswer is what a has request found out.
type probeAnswer int

const (
	// probeHas: the node has the member, or could not be asked (NATS is
	// failing): the claim stands.
	probeHas probeAnswer = iota
	// probeGone: the node answered that it no longer has the member.
	probeGone
	// probeDead: nobody serves the node's requests (NATS answered "no
	// responders": its process is gone).
	probeDead
	// probeSilent: the request timed out (the node may be slow): nothing
	// is known.
	probeSilent
)

// probeCall is one has request in flight, which other claims of the same
// nickname wait for instead of asking again.
type probeCall struct {
	done chan struct{}
	ans  probeAnswer
}

// probe asks the node of claim r (another node's) whether it still has
// its member: at most one request per nickname key at once, and none for
// a node run found dead less than silentFor ago.
func (n *Node) probe(ctx context.Context, key string, r *nickRecord) probeAnswer {
	run := r.Node + "." + r.Incarnation
	now := n.o.Now()
	n.mu.Lock()
	if until, ok := n.silent[run]; ok && now.Before(until) {
		n.mu.Unlock()
		return probeDead
	}
	if c, ok := n.probes[key]; ok {
		n.mu.Unlock()
		select {
		case <-c.done:
			return c.ans
		case <-ctx.Done():
			return probeHas
		}
	}
	if len(n.probes) >= maxProbes {
		n.mu.Unlock()
		return probeHas
	}
	c := &probeCall{done: make(chan struct{})}
	n.probes[key] = c
	n.mu.Unlock()

	c.ans = n.ask(ctx, r)
	n.mu.Lock()
	delete(n.probes, key)
	if c.ans == probeDead {
		n.noteSilent(run, n.o.Now())
	}
	n.mu.Unlock()
	close(c.done)
	return c.ans
}

// noteSilent remembers that run did not answer, keeping at most MaxNodes
// runs. The caller holds n.mu.
func (n *Node) noteSilent(run string, now time.Time) {
	for k, until := range n.silent {
		if !now.Before(until) {
			delete(n.silent, k)
		}
	}
	if len(n.silent) < MaxNodes {
		n.silent[run] = now.Add(silentFor)
	}
}

// ask sends one has request for claim r to its node.
func (n *Node) ask(ctx context.Context, r *nickRecord) probeAnswer {
	data, err := json.Marshal(hasRequest{Nick: r.Nick, Incarnation: r.Incarnation})
	if err != nil {
		return probeHas
	}
	ctx, cancel := context.WithTimeout(ctx, min(probeTimeout, n.o.Timeout))
	defer cancel()
	msg, err := n.nc.RequestWithContext(ctx, n.hasSubject(r.Node), data)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return probeDead
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return probeSilent
	case err != nil:
		n.log.Warn("cluster: asking a node about its member", "node", r.Node, "err", err)
		return probeHas
	}
	var rep hasReply
	if len(msg.Data) > maxHasReply || json.Unmarshal(msg.Data, &rep) != nil {
		n.metrics.badRecords.Inc()
		return probeHas
	}
	if rep.Has {
		return probeHas
	}
	return probeGone
}

// handleHas answers whether this node's run has a member called by the
// nickname asked about (or a look-alike of it), or claimed it less than
// freshClaim ago (the member may still be joining); a node with no room
// attached yet says yes.
func (n *Node) handleHas(msg *nats.Msg) {
	var req hasRequest
	if len(msg.Data) > maxHasRequest || json.Unmarshal(msg.Data, &req) != nil ||
		len(req.Nick) > maxNickBytes || !validIncarnation(req.Incarnation) {
		n.metrics.badRecords.Inc()
		return
	}
	has := false
	switch r := n.attachedRoom(); {
	case req.Incarnation != n.inc || room.ValidateNick(req.Nick) != nil:
	case r == nil:
		has = true // no room yet: the claim stands
	default:
		_, has = r.Find(req.Nick)
		has = has || n.claimedLately(req.Nick)
	}
	data, err := json.Marshal(hasReply{Has: has})
	if err == nil && msg.Reply != "" {
		err = msg.Respond(data)
	}
	if err != nil {
		n.log.Warn("cluster: answering whether a member is here", "err", err)
	}
}

// claimedLately reports whether this run claimed nick (or a look-alike)
// less than freshClaim ago and still has the claim.
func (n *Node) claimedLately(nick string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.claims[nickKVKey(nick)]
	return ok && c.r.Node == n.o.Node && c.r.Incarnation == n.inc && !c.r.held() &&
		!c.claimed.IsZero() && n.o.Now().Sub(c.claimed) < freshClaim
}

// hasSubject is the subject of node's has requests.
func (n *Node) hasSubject(node string) string { return n.o.Prefix + ".node." + node + ".has" }
