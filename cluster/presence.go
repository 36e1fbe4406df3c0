package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"chatd/room"
)

// This file is the nodes' presence: each node's record, renewed by
// heartbeats; the replica of every node's record, kept by a watch; and
// the sweep that buries a node whose record was not renewed for
// DeadAfter.

// debounce is the least time between two renewals of the node's record
// for changes of members: the first change is stored at once, the next
// ones together at most debounce later, however long the changes go on
// (a burst of joins makes two writes; a steady stream of joins never
// delays a leave by more than debounce).
const debounce = 100 * time.Millisecond

// pacedBytes is the rate, in bytes a second, above which the node's
// record is not renewed for changes of members: a big record is stored
// again at most every size/pacedBytes (a 400 KB record every 1.6 s),
// however fast its members change; a small one every debounce.
const pacedBytes = 256 << 10

// maxBurials bounds the dead node runs whose burial progress a node
// remembers (the leaves it has stored of each) until it completes.
const maxBurials = MaxNodes

// maxFreedPerSweep bounds the nickname records one sweep deletes or
// holds (a variable for the tests).
var maxFreedPerSweep = 1000

// loadTimeout bounds the loading of a bucket's replica at Join.
const loadTimeout = time.Minute

// maxSuspects bounds the nodes one sweep reads to free their orphaned
// claims.
const maxSuspects = 10

// follow starts a goroutine that keeps a replica of kv by a watch (apply
// gets every entry), and waits until the replica has the bucket's
// contents (at most loadTimeout). The watch lives until life ends
// (Close); if it ends before (the server lost), it is started again.
func (n *Node) follow(ctx, life context.Context, kv jetstream.KeyValue, apply func(jetstream.KeyValueEntry)) error {
	w, err := kv.WatchAll(life)
	if err != nil {
		return fmt.Errorf("cluster: watching %s: %w", kv.Bucket(), err)
	}
	ready, ended := make(chan struct{}), make(chan struct{})
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.consume(w, apply, ready)
		close(ended)
		for n.pause(n.o.Heartbeat / 2) {
			if w, err = kv.WatchAll(life); err != nil {
				n.log.Warn("cluster: watching again", "bucket", kv.Bucket(), "err", err)
				continue
			}
			n.consume(w, apply, nil)
		}
	}()
	t := time.NewTimer(loadTimeout)
	defer t.Stop()
	select {
	case <-ready:
		return nil
	case <-ended:
		select {
		case <-ready:
			return nil // loaded, then lost: the goroutine watches again
		default:
		}
		return fmt.Errorf("cluster: loading %s: the watch ended", kv.Bucket())
	case <-t.C:
		return fmt.Errorf("cluster: loading %s: not loaded within %s", kv.Bucket(), loadTimeout)
	case <-ctx.Done():
		return fmt.Errorf("cluster: loading %s: %w", kv.Bucket(), ctx.Err())
	}
}

// consume applies w's entries until it ends or the node stops; it closes
// ready (if not nil) once the initial values are in.
func (n *Node) consume(w jetstream.KeyWatcher, apply func(jetstream.KeyValueEntry), ready chan struct{}) {
	defer stopWatch(w)
	n.mu.Lock()
	stale := n.stale
	n.mu.Unlock()
	for {
		select {
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return
			case e == nil:
				if ready != nil {
					close(ready)
					ready = nil
				}
			default:
				apply(e)
			}
		case <-stale:
			n.log.Warn("cluster: the replicas stopped following the buckets; watching again")
			return
		case <-n.stop:
			return
		}
	}
}

// checkReplica notices a watch that stopped delivering without ending
// (its consumer lost with the server, not yet recreated): the node's own
// record, stored (acked) at least half a heartbeat ago, should be in the
// replica by now. If it is missing twice in a row, the watches start
// again. A renewal sooner after the last one (a change of members)
// proves nothing either way. (Half, not a whole heartbeat: the renewals'
// ticker fires a heartbeat after the last one started, a little less
// after it was acked.) The caller holds n.mu.
func (n *Node) checkReplica(now time.Time) {
	if e, ok := n.nodes[n.o.Node]; ok && e.rev >= n.ownRev {
		n.lagging = 0
		return
	}
	if now.Sub(n.lastBeat) < n.o.Heartbeat/2 {
		return // too soon to tell
	}
	if n.lagging++; n.lagging >= 2 {
		close(n.stale)
		n.stale = make(chan struct{})
		n.lagging = 0
	}
}

// stopWatch stops w and drains what it had queued, so that the
// connection's goroutine does not stay blocked on it.
func stopWatch(w jetstream.KeyWatcher) {
	_ = w.Stop()
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for {
		select {
		case _, ok := <-w.Updates():
			if !ok {
				return
			}
		case <-t.C:
			return
		}
	}
}

// pause waits d, reporting false if the node stopped meanwhile.
func (n *Node) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-n.stop:
		return false
	}
}

// applyNode updates the replica of the nodes bucket with e. The record is
// decoded before the lock is taken: a big one takes a while, and Peers
// must not wait for it. If another node's members changed, the index of
// peers is built again (reindex), off the lock too; a mere renewal does
// not.
func (n *Node) applyNode(e jetstream.KeyValueEntry) {
	var p *presence
	ok := e.Operation() == jetstream.KeyValuePut
	if ok {
		if p, ok = decodePresence(e.Key(), e.Value(), n.maxSize); !ok {
			n.metrics.badRecords.Inc()
		}
	}
	if n.replace(e, p, ok) && e.Key() != n.o.Node {
		n.reindex()
	}
}

// replace puts p (if ok, else nothing) in the replica as the record of
// e's node, and reports whether the members listed changed.
func (n *Node) replace(e jetstream.KeyValueEntry, p *presence, ok bool) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	old, known := n.nodes[e.Key()]
	if ok && !n.roomFor(e.Key(), p) {
		n.metrics.badRecords.Inc()
		ok = false
	}
	if !ok {
		delete(n.nodes, e.Key())
		return known
	}
	if known && old.rev == e.Revision() {
		return false // delivered again (the watch resumed): not a renewal
	}
	n.nodes[e.Key()] = nodeEntry{p: p, rev: e.Revision(), stored: e.Created(), seen: n.o.Now()}
	return !known || !sameMembers(old.p.Members, p.Members)
}

// sameMembers reports whether two records list the same members.
func sameMembers(a, b []rosterRow) bool {
	return slices.EqualFunc(a, b, func(x, y rosterRow) bool {
		return x.Nick == y.Nick && x.Transport == y.Transport && x.Joined.Equal(y.Joined) && x.Identity == y.Identity
	})
}

// roomFor reports whether the replica may take p as the record of node:
// at most MaxNodes records, and room.MaxPeers members in all. The caller
// holds n.mu.
func (n *Node) roomFor(node string, p *presence) bool {
	if _, known := n.nodes[node]; !known && len(n.nodes) >= MaxNodes {
		return false
	}
	members := len(p.Members)
	for name, e := range n.nodes {
		if name != node {
			members += len(e.p.Members)
		}
	}
	return members <= room.MaxPeers
}

// applyClaim updates the replica of the nicknames bucket with e.
func (n *Node) applyClaim(e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		n.mu.Lock()
		if c, ok := n.claims[e.Key()]; ok && c.rev <= e.Revision() {
			delete(n.claims, e.Key())
		}
		n.mu.Unlock()
		return
	}
	r, ok := n.decodeNickEntry(e)
	if !ok {
		n.metrics.badRecords.Inc()
	}
	n.noteClaim(e.Key(), r, e.Revision())
}

// noteClaim records in the replica that the nickname record under key is
// r (nil: none to believe) at revision rev, unless the replica has a
// later one. Beyond MaxRecords, a new record is left out.
func (n *Node) noteClaim(key string, r *nickRecord, rev uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	old, known := n.claims[key]
	switch {
	case known && old.rev > rev:
	case r == nil:
		delete(n.claims, key)
	case !known && len(n.claims) >= MaxRecords:
		n.metrics.badRecords.Inc()
	default:
		e := claimEntry{r: r, rev: rev}
		if known && sameClaim(old.r, r) {
			e.claimed = old.claimed
		}
		n.claims[key] = e
	}
}

// noteOwnClaim is noteClaim of a claim this run just made, remembering
// when.
func (n *Node) noteOwnClaim(key string, r *nickRecord, rev uint64) {
	n.noteClaim(key, r, rev)
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.claims[key]; ok && c.rev == rev {
		c.claimed = n.o.Now()
		n.claims[key] = c
	}
}

// sameClaim reports whether a and b are the same member's claim (not
// holds).
func sameClaim(a, b *nickRecord) bool {
	return !a.held() && !b.held() && a.Node == b.Node && a.Incarnation == b.Incarnation && a.Member == b.Member
}

// forgetClaim removes the record under key at revision rev from the
// replica (the node deleted it).
func (n *Node) forgetClaim(key string, rev uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.claims[key]; ok && c.rev <= rev {
		delete(n.claims, key)
	}
}

// beat renews the node's record every Heartbeat and soon after its
// members change: the first change at once, the next ones together at
// most gap later. It never waits for a burial (sweeper): a node busy
// burying a big dead node must not look dead itself.
func (n *Node) beat() {
	defer n.wg.Done()
	renew := time.NewTicker(n.o.Heartbeat)
	defer renew.Stop()
	soon := time.NewTimer(time.Hour)
	soon.Stop()
	defer soon.Stop()
	var last time.Time // the last renewal's end
	pending := false   // soon is set
	for {
		select {
		case <-n.stop:
			return
		case <-n.changed:
			if pending {
				continue
			}
			if wait := n.gap() - time.Since(last); wait > 0 {
				soon.Reset(wait)
				pending = true
				continue
			}
			n.renew()
			last = time.Now()
		case <-soon.C:
			pending = false
			n.renew()
			last = time.Now()
		case <-renew.C:
			n.renew()
			last = time.Now()
		}
	}
}

// gap is the least time between two renewals for changes of members:
// debounce, or longer for a big record (pacedBytes).
func (n *Node) gap() time.Duration {
	return max(debounce, time.Duration(n.recordSize.Load())*time.Second/pacedBytes)
}

// sweeper sweeps for dead nodes every Heartbeat/2, on a goroutine of its
// own: one sweep (and so one burial) at a time, never in the way of the
// heartbeats.
func (n *Node) sweeper() {
	defer n.wg.Done()
	t := time.NewTicker(n.o.Heartbeat / 2)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.sweep()
			n.reindexIfLiveChanged()
		}
	}
}

// membersChanged asks for the record to be renewed soon; it never blocks.
func (n *Node) membersChanged() {
	select {
	case n.changed <- struct{}{}:
	default:
	}
}

// renew stores the node's record with its members now.
func (n *Node) renew() {
	ctx, cancel := n.opContext()
	defer cancel()
	if err := n.putPresence(ctx); err != nil {
		n.log.Warn("cluster: renewing the node's record", "err", err)
	}
}

// opContext bounds one call to NATS by Timeout and the node's life.
func (n *Node) opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(n.life, n.o.Timeout)
}

// putPresence stores the node's record, replacing the one it stored last
// (compare and set). If its record is gone (another node took it for
// dead) it stores it again; if another run of the name has it, it stores
// it over it (see retake).
func (n *Node) putPresence(ctx context.Context) error {
	var roster []room.Peer
	if r := n.attachedRoom(); r != nil {
		roster = r.Roster()
	}
	data := n.encodePresence(roster)
	n.mu.Lock()
	rev := n.ownRev
	n.checkReplica(n.o.Now())
	n.mu.Unlock()
	rev, err := n.nodesKV.Update(ctx, n.o.Node, data, rev)
	if changedMeanwhile(err) || errors.Is(err, jetstream.ErrKeyNotFound) {
		rev, err = n.retake(ctx, data)
	} else if err == nil {
		n.mu.Lock()
		n.conflicted = false
		n.mu.Unlock()
	}
	if err != nil {
		return err
	}
	now := n.o.Now()
	n.mu.Lock()
	if now.Sub(n.lastBeat) > 2*n.o.Heartbeat {
		n.upSince = now // back after an outage: the others get DeadAfter too
	}
	n.ownRev, n.lastBeat = rev, now
	n.mu.Unlock()
	return nil
}

// retake stores the node's record when the last one it stored is no
// longer there. If another run of its name has the record (forged, or a
// second process given the same name), it is stored over it (compare and
// set): the node keeps its members; the conflict is counted and said
// once, as an error, until a renewal goes through unopposed.
func (n *Node) retake(ctx context.Context, data []byte) (uint64, error) {
	e, err := n.nodesKV.Get(ctx, n.o.Node)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		n.log.Warn("cluster: this node's record was gone (taken for dead?); storing it again")
		return n.nodesKV.Create(ctx, n.o.Node, data)
	}
	if err != nil {
		return 0, err
	}
	if p, ok := decodePresence(e.Key(), e.Value(), n.maxSize); !ok || p.Incarnation != n.inc {
		n.conflict(p, ok)
	}
	return n.nodesKV.Update(ctx, n.o.Node, data, e.Revision())
}

// conflict counts a record of this node's name stored by another run (p,
// if ok) and says so once per conflict.
func (n *Node) conflict(p *presence, ok bool) {
	n.metrics.conflicts.Inc()
	n.mu.Lock()
	said := n.conflicted
	n.conflicted, n.duplicated = true, true
	n.mu.Unlock()
	if said {
		return
	}
	other := "an unreadable record"
	if ok {
		other = "incarnation " + p.Incarnation
	}
	n.log.Error("cluster: this node's record was stored by another run of its name (forged, or a second chatd with the same --node); storing ours over it",
		"node", n.o.Node, "other", other, "incarnation", n.inc)
}

// encodePresence encodes the node's record with roster, leaving out the
// last members if the record would not fit in a NATS message.
func (n *Node) encodePresence(roster []room.Peer) []byte {
	roster = roster[:min(len(roster), room.MaxPeers)]
	p := presence{Version: recordVersion, Node: n.o.Node, Incarnation: n.inc, Started: n.started,
		Count: len(roster), Members: make([]rosterRow, 0, len(roster)), Heartbeat: n.o.Now()}
	for _, m := range roster {
		if room.ValidateNick(m.Nick) == nil {
			p.Members = append(p.Members, rosterRow{Nick: m.Nick, Transport: m.Transport, Joined: m.Joined, Identity: rosterIdentity(m.Identity)})
		}
	}
	for {
		data, err := json.Marshal(&p)
		if err == nil && len(data) <= n.maxSize-1024 || len(p.Members) == 0 {
			n.recordSize.Store(int64(len(data)))
			return data
		}
		p.Members = p.Members[:len(p.Members)/2]
	}
}

// sweep buries the nodes whose records were not renewed for DeadAfter,
// frees the claims of nodes that are gone and ends the holds that
// expired. It does nothing while this node cannot renew its own record:
// a node cut off from NATS must not take the others for dead.
func (n *Node) sweep() {
	now := n.o.Now()
	n.mu.Lock()
	cutOff := now.Sub(n.lastBeat) > 2*n.o.Heartbeat
	stale := make(map[string]uint64)
	for name, e := range n.nodes {
		if name != n.o.Node && !n.live(e, now) {
			stale[name] = e.rev
		}
	}
	n.mu.Unlock()
	if cutOff {
		return
	}
	for name, rev := range stale {
		e, err := n.get(name)
		if err != nil || e.Revision() != rev {
			continue // buried by another node, or renewed
		}
		if err := n.bury(e, false); err != nil {
			n.log.Warn("cluster: burying a dead node", "dead", name, "err", err)
		}
	}
	n.freeOrphans()
	n.holdPrevious()
	n.sweeps.Add(1)
}

// get reads node's record, bounded by Timeout.
func (n *Node) get(node string) (jetstream.KeyValueEntry, error) {
	ctx, cancel := n.opContext()
	defer cancel()
	return n.nodesKV.Get(ctx, node)
}

// bury announces the members of the dead node whose last record is e as
// left (once in all, whichever nodes do it), makes its nickname claims
// holds for their owners (holdClaims) and deletes its record (compare and
// set: if it renewed it meanwhile, it lives). While claims of the run are
// left unheld (more than one sweep holds), the record stays, for the next
// sweep to go on, unless taking: this node takes the name of its previous
// run, whose claims it holds itself (holdPrevious). Each call to NATS has
// a Timeout of its own: a long burial does not make the next call fail.
func (n *Node) bury(e jetstream.KeyValueEntry, taking bool) error {
	p, ok := decodePresence(e.Key(), e.Value(), n.maxSize)
	if ok {
		if err := n.announceLeaves(p); err != nil {
			return err
		}
		left := n.holdClaims(func(r *nickRecord) bool { return r.Node == p.Node && r.Incarnation == p.Incarnation })
		if left && !taking {
			return nil // the next sweep holds more
		}
	} else {
		n.metrics.badRecords.Inc()
	}
	ctx, cancel := n.opContext()
	err := n.nodesKV.Delete(ctx, e.Key(), jetstream.LastRevision(e.Revision()))
	cancel()
	if ok && (err == nil || changedMeanwhile(err)) {
		n.forgetBurial(p)
	}
	if changedMeanwhile(err) {
		return nil // buried by another node, or renewed
	}
	if err != nil {
		return err
	}
	n.metrics.deadNodes.Inc()
	if ok {
		n.log.Warn("cluster: a node stopped answering; its members were announced left", "dead", p.Node, "members", len(p.Members))
	}
	return nil
}

// announceLeaves appends a leave for each member of the dead node p, each
// with an id of its own that every node derives alike; not for a member
// whose nickname a member of another node has taken over since (come back
// through that node: see kvNicks.liveClaim). The leaves go in one batch
// (LeaveLog.AppendOnceBatch: acks awaited together, not one by one); the
// ones stored are remembered, so that a burial tried again after a
// failure announces only the others.
func (n *Node) announceLeaves(p *presence) error {
	done := n.burialProgress(p)
	reason := lostReason(p.Node)
	var evs []*room.Event
	var ids []string
	var index []int
	for i, m := range p.Members {
		if done[i] || n.movedAway(m.Nick, p) {
			continue
		}
		evs = append(evs, &room.Event{Kind: room.Leave, Time: n.o.Now(), From: m.Nick, Reason: reason})
		ids = append(ids, leaveID(p.Node, p.Incarnation, m.Nick))
		index = append(index, i)
	}
	if len(evs) == 0 {
		return nil
	}
	err := n.o.Log.AppendOnceBatch(evs, ids)
	n.mu.Lock()
	for j, ev := range evs {
		if ev.Seq != 0 {
			done[index[j]] = true
		}
	}
	n.mu.Unlock()
	if err != nil {
		return fmt.Errorf("announcing the members of node %s left: %w", p.Node, err)
	}
	return nil
}

// burialKey names a run of a node in Node.burials.
func burialKey(p *presence) string { return p.Node + "/" + p.Incarnation }

// burialProgress returns which members of the dead node p have been
// announced left already, by index (set in it under n.mu), remembering
// it until the burial completes (forgetBurial); beyond maxBurials runs,
// an arbitrary one is forgotten (its leaves would be announced again,
// harmlessly: same ids).
func (n *Node) burialProgress(p *presence) []bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	key := burialKey(p)
	if done, ok := n.burials[key]; ok && len(done) == len(p.Members) {
		return done
	}
	if len(n.burials) >= maxBurials {
		for k := range n.burials {
			delete(n.burials, k)
			break
		}
	}
	done := make([]bool, len(p.Members))
	n.burials[key] = done
	return done
}

// forgetBurial forgets the progress of p's burial: it is done.
func (n *Node) forgetBurial(p *presence) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.burials, burialKey(p))
}

// movedAway reports whether nick, a member of the dead node p, is now
// claimed, in the replica, by a member of another node or run.
func (n *Node) movedAway(nick string, p *presence) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.claims[nickKVKey(nick)]
	return ok && !c.r.held() && (c.r.Node != p.Node || c.r.Incarnation != p.Incarnation)
}

// leaveID is the id of the leave of member nick of run inc of node, gone
// with its node: every node derives it alike, from the nickname's key (not
// the member's place in a record), whether it buries the node (bury) or
// takes a dead session's nickname over (leaveFirst), so that the stream's
// duplicate window stores it once.
func leaveID(node, inc, nick string) string {
	return "gone." + node + "." + inc + "." + nickKVKey(nick)
}

// lostReason is the reason of the leaves of node's members when it died.
func lostReason(node string) room.Reason {
	return room.Reason{Kind: room.ReasonLost, Detail: "its node " + node + " stopped answering"}
}

// holdClaims makes the claims (not the holds) that match holds for their
// owners' identities for NickGrace (their owners get them back on another
// node, nobody else has them meanwhile), at most maxFreedPerSweep of
// them, each compare-and-set on the revision seen; a claim of an identity
// that could never be recognised is deleted. It reports whether the
// replica still has claims that match (beyond the bound, or failed).
func (n *Node) holdClaims(match func(*nickRecord) bool) bool {
	n.mu.Lock()
	doomed := make(map[string]claimEntry)
	for key, c := range n.claims {
		if len(doomed) < maxFreedPerSweep && !c.r.held() && match(c.r) {
			doomed[key] = c
		}
	}
	n.mu.Unlock()
	until := n.o.Now().Add(n.o.NickGrace)
	free := make(map[string]uint64)
	for key, c := range doomed {
		if !recognisable(c.r.Identity.identity()) {
			free[key] = c.rev
			continue
		}
		_, _ = n.holdClaim(key, c.r, c.rev, until) // changed meanwhile: not a claim of the dead to hold
	}
	n.deleteClaims(free)
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.claims {
		if !c.r.held() && match(c.r) {
			return true
		}
	}
	return false
}

// holdPrevious makes holds of the claims naming this node with another
// incarnation (of a previous run, whose burial at Join held at most
// maxFreedPerSweep of them), unless another run stored a record of this
// name during this run (forged, or a second chatd with the same name,
// whose members' claims are not this node's to hold).
func (n *Node) holdPrevious() {
	n.mu.Lock()
	dup := n.duplicated
	n.mu.Unlock()
	if dup {
		return
	}
	n.holdClaims(func(r *nickRecord) bool { return r.Node == n.o.Node && r.Incarnation != n.inc })
}

// deleteClaims deletes the nickname records given with their revisions,
// each bounded by Timeout.
func (n *Node) deleteClaims(doomed map[string]uint64) {
	for key, rev := range doomed {
		ctx, cancel := n.opContext()
		err := n.nicksKV.Delete(ctx, key, jetstream.LastRevision(rev))
		cancel()
		if err == nil {
			n.forgetClaim(key, rev)
		}
	}
}

// freeOrphans makes holds (holdClaims) of the claims of nodes that have
// no record (buried by a sweep that failed half-way, or forged) or only
// an unreadable one not stored again for DeadAfter, once a direct read
// shows it, and deletes the holds that expired. A claim of another
// incarnation than its node's record is left alone: the record may be
// forged (claims of a previous run are held by its burial at Join).
func (n *Node) freeOrphans() {
	now := n.o.Now()
	n.mu.Lock()
	doomed := make(map[string]uint64)
	suspects := make(map[string]bool)
	for key, c := range n.claims {
		if len(doomed) >= maxFreedPerSweep {
			break
		}
		if c.r.held() {
			if now.After(c.r.HeldUntil) {
				doomed[key] = c.rev
			}
			continue
		}
		if _, ok := n.nodes[c.r.Node]; !ok && c.r.Node != n.o.Node {
			suspects[c.r.Node] = true
		}
	}
	n.mu.Unlock()
	checked := 0
	for node := range suspects {
		if checked++; checked > maxSuspects {
			break // a burst of forgeries: a few per sweep
		}
		if n.orphaned(node, now) {
			n.holdClaims(func(r *nickRecord) bool { return r.Node == node })
		}
	}
	n.deleteClaims(doomed)
}

// orphaned reports whether node, read now, has no record, or an
// unreadable one not stored again for DeadAfter.
func (n *Node) orphaned(node string, now time.Time) bool {
	e, err := n.get(node)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return true
	case err != nil:
		return false
	}
	_, ok := decodePresence(e.Key(), e.Value(), n.maxSize)
	return !ok && now.Sub(e.Created()) >= n.o.DeadAfter
}
