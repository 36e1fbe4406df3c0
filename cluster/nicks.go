package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
)

// kvNicks is the cluster-wide room.Nicks: one record per nickname (keyed
// by nickKVKey, so that look-alikes share one) in the nicknames bucket,
// claimed by atomic create, changed by compare-and-set; Owner answers
// from the node's replica of the bucket.
type kvNicks Node

// maxClaimTries bounds the compare-and-set rounds of one claim that races
// with others.
const maxClaimTries = 4

// errTooManyNicks refuses a claim once the bucket holds MaxRecords.
func errTooManyNicks(nick string) error {
	return fmt.Errorf("%w: %q cannot be taken now: too many nicknames are in use, try again later", room.ErrNickTaken, nick)
}

// errNickInUse and errNickHeld word refusals as the room does.
func errNickInUse(nick string) error {
	return fmt.Errorf("%w: %q is already in use, choose another", room.ErrNickTaken, nick)
}

func errNickHeld(nick string, left time.Duration) error {
	return fmt.Errorf("%w: %q is held for %s for its owner, who was disconnected; choose another", room.ErrNickTaken, nick, left.Round(time.Second))
}

// Claim gives nick to c unless a live member of any node has it (or a
// look-alike), or it is held for an identity c.Identity does not own.
func (s *kvNicks) Claim(nick string, c room.NickClaim) error {
	n := (*Node)(s)
	key := nickKVKey(nick)
	n.mu.Lock()
	_, known := n.claims[key]
	full := !known && len(n.claims) >= MaxRecords
	n.mu.Unlock()
	if full {
		return errTooManyNicks(nick)
	}
	rec := &nickRecord{Version: recordVersion, Nick: nick, Node: n.o.Node, Incarnation: n.inc, Member: c.Member, Identity: storedIdentity(c.Identity)}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ctx, cancel := n.opContext()
	defer cancel()
	for range maxClaimTries {
		rev, err := n.nicksKV.Create(ctx, key, data)
		if err == nil {
			n.noteOwnClaim(key, rec, rev)
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("cluster: claiming %q: %w", nick, err)
		}
		done, err := s.claimTaken(ctx, key, nick, c, rec, data)
		if done || err != nil {
			return err
		}
	}
	return errNickInUse(nick)
}

// claimTaken handles a claim of a nickname that has a record: it takes
// it over if the record is c's own, held for c's identity, expired, of a
// dead session of c's identity (its node dead, or live without the
// member: see liveClaim) or unreadable; it turns a dead node's claim of
// another identity into a hold for that identity (see holdDead); else it
// refuses. A dead session's claim is taken over only once its leave is
// stored (leaveFirst). It reports false with no error when the record
// changed meanwhile (try again).
func (s *kvNicks) claimTaken(ctx context.Context, key, nick string, c room.NickClaim, rec *nickRecord, data []byte) (bool, error) {
	n := (*Node)(s)
	e, err := n.nicksKV.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("cluster: claiming %q: %w", nick, err)
	}
	other, ok := n.decodeNickEntry(e)
	if !ok {
		n.metrics.badRecords.Inc()
	}
	now := n.o.Now()
	switch {
	case !ok:
	case other.Node == n.o.Node && other.Incarnation == n.inc && other.Member == c.Member && !other.held():
		return true, nil
	case other.held() && now.Before(other.HeldUntil):
		if !owns(c.Identity, other.Identity.identity()) {
			return true, errNickHeld(nick, other.HeldUntil.Sub(now))
		}
	case !other.held():
		if done, err := s.sessionEnded(ctx, key, nick, c, other, e.Revision()); done || err != nil {
			return done, err
		}
		if err := n.leaveFirst(other); err != nil {
			return true, fmt.Errorf("cluster: claiming %q: announcing its previous owner left: %w", nick, err)
		}
	}
	rev, err := n.nicksKV.Update(ctx, key, data, e.Revision())
	if err != nil {
		return false, nil // changed meanwhile: look again
	}
	n.noteOwnClaim(key, rec, rev)
	return true, nil
}

// sessionEnded decides a claim by c of nick whose record other (at
// revision rev) is a member's claim: it reports nothing (take it over)
// if other's session ended and c's identity owns it; else the refusal,
// done true: in use if the member is on a live node that has it; held
// if its node is dead (the claim is then made a hold for other's
// identity, so that the burial announces the member left before anyone
// else can have the nickname) or does not answer for it.
func (s *kvNicks) sessionEnded(ctx context.Context, key, nick string, c room.NickClaim, other *nickRecord, rev uint64) (bool, error) {
	n := (*Node)(s)
	live, err := s.claimLive(ctx, other)
	if err != nil {
		return true, fmt.Errorf("cluster: claiming %q: %w", nick, err)
	}
	if live {
		if err := s.liveClaim(ctx, key, nick, c, other); err != nil {
			n.noteClaim(key, other, rev)
			return true, err
		}
		return false, nil
	}
	id := other.Identity.identity()
	if owns(c.Identity, id) || !recognisable(id) {
		return false, nil
	}
	// The hold's owner may take it back before the burial, which then
	// skips the member (movedAway): its leave is stored first.
	if err := n.leaveFirst(other); err != nil {
		return true, fmt.Errorf("cluster: claiming %q: announcing its previous owner left: %w", nick, err)
	}
	if _, err := n.holdClaim(key, other, rev, n.o.Now().Add(n.o.NickGrace)); err != nil {
		return false, nil // changed meanwhile: look again
	}
	return true, errNickHeld(nick, n.o.NickGrace)
}

// leaveFirst stores the leave of the member whose claim r is, its
// session ended with its node (dead or restarted): the very event a
// burial of r's node announces, under the same id (leaveID), so that the
// room hears it once whoever stores it, and before the nickname's next
// join.
func (n *Node) leaveFirst(r *nickRecord) error {
	if r.Node == n.o.Node && r.Incarnation == n.inc {
		return nil // a member of this run: the room announced it
	}
	ev := &room.Event{Kind: room.Leave, Time: n.o.Now(), From: r.Nick, Reason: lostReason(r.Node)}
	_, err := n.o.Log.AppendOnce(ev, leaveID(r.Node, r.Incarnation, r.Nick))
	return err
}

// holdClaim makes the claim r, at revision rev, a hold for its identity
// until until (compare and set).
func (n *Node) holdClaim(key string, r *nickRecord, rev uint64, until time.Time) (uint64, error) {
	held := *r
	held.HeldUntil = until
	data, err := json.Marshal(&held)
	if err != nil {
		return 0, err
	}
	ctx, cancel := n.opContext()
	defer cancel()
	rev, err = n.nicksKV.Update(ctx, key, data, rev)
	if err == nil {
		n.noteClaim(key, &held, rev)
	}
	return rev, err
}

// liveClaim decides a claim of nick whose record r is a member's of a
// node still counted live: nil (take it over) if r is another node's,
// that node answered that it no longer has the member or nobody serves it
// (the process died, and is not buried yet), and c.Identity owns r's
// identity (the member come back through another node); else the
// refusal: in use if the node has the member, else held for its owner
// (a node that does not answer in time may be slow, or the member still
// arriving there: its member is not announced as left).
func (s *kvNicks) liveClaim(ctx context.Context, key, nick string, c room.NickClaim, r *nickRecord) error {
	n := (*Node)(s)
	if r.Node == n.o.Node {
		return errNickInUse(nick)
	}
	switch n.probe(ctx, key, r) {
	case probeHas:
		return errNickInUse(nick)
	case probeGone, probeDead:
		if owns(c.Identity, r.Identity.identity()) {
			return nil
		}
	}
	return errNickHeld(nick, n.burialIn(r.Node))
}

// burialIn estimates how long until node is taken for dead: DeadAfter
// after its record was last renewed.
func (n *Node) burialIn(node string) time.Duration {
	now := n.o.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	e, ok := n.nodes[node]
	if !ok {
		return n.o.DeadAfter
	}
	left := n.o.DeadAfter - now.Sub(maxTime(e.stored, e.seen))
	return max(left, time.Second)
}

// claimLive reports whether the member of claim r may be on a live node:
// this run of this node, or a node whose record, read now, was renewed
// within DeadAfter (as Node.live judges). A record of another incarnation
// does not make the claim dead (it may be forged: the has-probe of
// liveClaim asks the node itself); an unreadable one counts by the time
// the server stored it.
func (s *kvNicks) claimLive(ctx context.Context, r *nickRecord) (bool, error) {
	n := (*Node)(s)
	if r.Node == n.o.Node {
		return r.Incarnation == n.inc, nil
	}
	e, err := n.nodesKV.Get(ctx, r.Node)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	now := n.o.Now()
	if _, ok := decodePresence(e.Key(), e.Value(), n.maxSize); !ok {
		n.metrics.badRecords.Inc()
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.live(nodeEntry{stored: e.Created()}, now), nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	seen, known := n.nodes[r.Node]
	if !known || seen.rev != e.Revision() {
		seen = nodeEntry{stored: e.Created(), seen: now} // news to this node
	}
	return n.live(seen, now), nil
}

// Release frees nick if c has it.
func (s *kvNicks) Release(nick string, c room.NickClaim) error {
	n := (*Node)(s)
	ctx, cancel := n.opContext()
	defer cancel()
	key := nickKVKey(nick)
	e, ok, err := s.mine(ctx, key, c)
	if !ok || err != nil {
		return err
	}
	if err := n.nicksKV.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
		return fmt.Errorf("cluster: releasing %q: %w", nick, err)
	}
	n.forgetClaim(key, e.Revision())
	return nil
}

// Hold frees nick if c has it and holds it for c.Identity for grace. An
// identity that could never be recognised is not held for: its nickname
// is freed.
func (s *kvNicks) Hold(nick string, c room.NickClaim, grace time.Duration) error {
	n := (*Node)(s)
	if !recognisable(c.Identity) || grace <= 0 {
		return s.Release(nick, c)
	}
	ctx, cancel := n.opContext()
	defer cancel()
	key := nickKVKey(nick)
	e, ok, err := s.mine(ctx, key, c)
	if !ok || err != nil {
		return err
	}
	rec, _ := decodeNick(key, e.Value())
	rec.HeldUntil = n.o.Now().Add(grace)
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	rev, err := n.nicksKV.Update(ctx, key, data, e.Revision())
	if err != nil {
		return fmt.Errorf("cluster: holding %q: %w", nick, err)
	}
	n.noteClaim(key, rec, rev)
	return nil
}

// mine reads the record under key and reports whether it is c's claim
// (of this run of this node).
func (s *kvNicks) mine(ctx context.Context, key string, c room.NickClaim) (jetstream.KeyValueEntry, bool, error) {
	n := (*Node)(s)
	e, err := n.nicksKV.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cluster: reading a nickname: %w", err)
	}
	r, ok := decodeNick(key, e.Value())
	return e, ok && r.Node == n.o.Node && r.Incarnation == n.inc && r.Member == c.Member && !r.held(), nil
}

// Owner returns who has nick, from the replica: the member (its Member
// number only if it is on this node: the numbers of other nodes' members
// mean nothing here, and show as 0), or the identity it is held for. A
// claim of a node known dead (its record stale) or of a previous run of
// this node does not count; a record of another incarnation alone does
// not make a claim dead (it may be forged: Claim asks the node).
func (s *kvNicks) Owner(nick string) (room.NickOwner, bool) {
	n := (*Node)(s)
	key := nickKVKey(nick)
	now := n.o.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.claims[key]
	if !ok {
		return room.NickOwner{}, false
	}
	r := c.r
	claim := room.NickClaim{Identity: r.Identity.identity()}
	if r.Node == n.o.Node && r.Incarnation == n.inc {
		claim.Member = r.Member
	}
	if r.held() {
		if !now.Before(r.HeldUntil) {
			return room.NickOwner{}, false
		}
		return room.NickOwner{Claim: claim, HeldUntil: r.HeldUntil}, true
	}
	if r.Node == n.o.Node && r.Incarnation != n.inc {
		return room.NickOwner{}, false
	}
	if e, known := n.nodes[r.Node]; known && !n.live(e, now) {
		return room.NickOwner{}, false
	}
	return room.NickOwner{Claim: claim}, true
}
