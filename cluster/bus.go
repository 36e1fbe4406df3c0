package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"chatd/room"
)

// This file is what goes from node to node on core NATS subjects: private
// messages (request and reply, to the receiver's node) and kicks (to
// every node).

// Bounds on the messages between nodes.
const (
	maxPrivateText    = 8 << 10
	maxPrivateRequest = 16 << 10
	maxPrivateReply   = 2 << 10
	maxReplyWords     = 512
	maxKick           = 4 << 10
	// maxPrivateHandlers bounds the private messages from other nodes
	// handled at once; beyond, the subscription waits (NATS bounds what
	// it queues meanwhile).
	maxPrivateHandlers = 16
)

// privateKind says, in a word the program can test, how a private message
// sent to another node ended.
type privateKind string

// The kinds of replies to a private message; "" is delivered.
const (
	privateDelivered    privateKind = ""
	privateNoSuchMember privateKind = "no-such-member"
	privateLimit        privateKind = "private-limit"
	privateNotDelivered privateKind = "not-delivered"
)

// privateRequest is a private message on its way to another node.
type privateRequest struct {
	From     string       `json:"from"`
	Identity identityJSON `json:"identity"`
	To       string       `json:"to"`
	Text     string       `json:"text"`
}

// privateReply is the receiving node's answer.
type privateReply struct {
	Nick  string      `json:"nick,omitempty"`
	Error privateKind `json:"error,omitempty"`
	Text  string      `json:"text,omitempty"`
}

// kickMessage asks every node to remove its members called Nick.
type kickMessage struct {
	From   string          `json:"from"`
	Nick   string          `json:"nick"`
	Kind   room.ReasonKind `json:"kind"`
	Detail string          `json:"detail,omitempty"`
}

// refusal is a private message's failure: words for the sender, wrapping
// the room's error a caller tests.
type refusal struct {
	kind error
	text string
}

func (e *refusal) Error() string { return e.text }
func (e *refusal) Unwrap() error { return e.kind }

// bus is the room's link to the other nodes (room.Bus).
type bus Node

// Peers lists the members of the other live nodes, from the index: at
// most room.MaxPeers, sorted as room.CompareNicks sorts. The slice is
// shared: the caller must not modify it.
func (b *bus) Peers() []room.Peer { return (*Node)(b).index.Load().peers }

// Peer returns the member of another live node called nick (or a
// look-alike of it), from the index.
func (b *bus) Peer(nick string) (room.Peer, bool) { return (*Node)(b).index.Load().find(nick) }

// MembersChanged asks for the node's record to be renewed soon.
func (b *bus) MembersChanged() { (*Node)(b).membersChanged() }

// Whisper sends a private message to the member called to on the live
// node that lists it, and returns the receiver's nickname or why not.
func (b *bus) Whisper(from room.Sender, to, text string) (string, error) {
	n := (*Node)(b)
	node, ok := n.nodeOf(to)
	if !ok {
		n.metrics.private.WithLabelValues(resultNoSuchMember).Inc()
		return "", &refusal{room.ErrNoSuchMember, fmt.Sprintf("no one called %q is here; /who lists the members", to)}
	}
	data, err := json.Marshal(privateRequest{From: from.Nick, Identity: storedIdentity(from.Identity), To: to, Text: cutBytes(text, maxPrivateText)})
	if err != nil {
		return "", err
	}
	ctx, cancel := n.opContext()
	defer cancel()
	msg, err := n.nc.RequestWithContext(ctx, n.privateSubject(node), data)
	if err != nil {
		n.metrics.private.WithLabelValues(resultNoAnswer).Inc()
		return "", &refusal{room.ErrNotDelivered, fmt.Sprintf("node %s did not answer in time; your message may not have been delivered", node)}
	}
	return n.privateAnswer(node, msg.Data)
}

// privateAnswer maps a receiving node's reply to Whisper's result.
func (n *Node) privateAnswer(node string, data []byte) (string, error) {
	var rep privateReply
	if len(data) > maxPrivateReply || json.Unmarshal(data, &rep) != nil {
		n.metrics.badRecords.Inc()
		n.metrics.private.WithLabelValues(resultError).Inc()
		return "", &refusal{room.ErrNotDelivered, fmt.Sprintf("node %s answered nonsense; your message may not have been delivered", node)}
	}
	words := cutBytes(strings.TrimSpace(room.Clean(rep.Text)), maxReplyWords)
	var kind error
	switch rep.Error {
	case privateDelivered:
		if room.ValidateNick(rep.Nick) != nil {
			n.metrics.badRecords.Inc()
			n.metrics.private.WithLabelValues(resultError).Inc()
			return "", &refusal{room.ErrNotDelivered, fmt.Sprintf("node %s answered nonsense; your message may not have been delivered", node)}
		}
		n.metrics.private.WithLabelValues(resultDelivered).Inc()
		return rep.Nick, nil
	case privateNoSuchMember:
		kind = room.ErrNoSuchMember
		n.metrics.private.WithLabelValues(resultNoSuchMember).Inc()
	case privateLimit:
		kind = room.ErrPrivateLimit
		n.metrics.private.WithLabelValues(resultLimit).Inc()
	default:
		kind = room.ErrNotDelivered
		n.metrics.private.WithLabelValues(resultNotDelivered).Inc()
	}
	if words == "" {
		words = "your message was not delivered"
	}
	return "", &refusal{kind, words}
}

// nodeOf returns the live node (not this one) whose record lists nick.
func (n *Node) nodeOf(nick string) (string, bool) {
	p, ok := n.index.Load().find(nick)
	return p.Node, ok
}

// handlePrivate hands a private message another node sent to one of this
// node's members to one of maxPrivateHandlers goroutines, waiting for one
// to be free: one slow delivery does not hold up the others.
func (n *Node) handlePrivate(msg *nats.Msg) {
	arrived := time.Now()
	select {
	case n.privateSlots <- struct{}{}:
	case <-n.stop:
		return
	}
	go func() {
		defer func() { <-n.privateSlots }()
		if time.Since(arrived) > n.o.Timeout/2 {
			// Its sender is about to give up (Timeout): tell it now that it
			// was not delivered, rather than deliver it after it was told
			// it may not have been.
			n.reply(msg, privateReply{Error: privateNotDelivered, Text: "node " + n.o.Node + " is too busy; your message was not delivered"})
			return
		}
		n.deliverPrivate(msg)
	}()
}

// drainPrivate waits for the private messages being handled: it takes
// every slot, after the subscription ended.
func (n *Node) drainPrivate() {
	for range maxPrivateHandlers {
		n.privateSlots <- struct{}{}
	}
}

// deliverPrivate delivers a private message another node sent to one of
// this node's members, and answers how it went: the room answers once it
// has taken the message into its order, without waiting for its delivery
// (room.Room.DeliverPrivate), so well within the sender's Timeout.
func (n *Node) deliverPrivate(msg *nats.Msg) {
	var req privateRequest
	if len(msg.Data) > maxPrivateRequest || json.Unmarshal(msg.Data, &req) != nil ||
		room.ValidateNick(req.From) != nil || len(req.To) > maxNickBytes || !req.Identity.valid() || len(req.Text) > maxPrivateText {
		n.metrics.badRecords.Inc()
		n.reply(msg, privateReply{Error: privateNotDelivered, Text: "the message was refused by its receiver's node"})
		return
	}
	r := n.attachedRoom()
	if r == nil {
		n.reply(msg, privateReply{Error: privateNotDelivered, Text: "node " + n.o.Node + " is not serving the room; your message was not delivered"})
		return
	}
	nick, err := r.DeliverPrivate(room.Sender{Nick: req.From, Identity: req.Identity.identity()}, req.To, req.Text)
	rep := privateReply{Nick: nick}
	if err != nil {
		rep = privateReply{Error: privateNotDelivered, Text: cutBytes(err.Error(), maxReplyWords)}
		switch {
		case errors.Is(err, room.ErrNoSuchMember):
			rep.Error = privateNoSuchMember
		case errors.Is(err, room.ErrPrivateLimit):
			rep.Error = privateLimit
		}
	}
	n.reply(msg, rep)
}

// reply answers a request, if it asked for an answer.
func (n *Node) reply(msg *nats.Msg, rep privateReply) {
	if msg.Reply == "" {
		return
	}
	data, err := json.Marshal(rep)
	if err == nil {
		err = msg.Respond(data)
	}
	if err != nil {
		n.log.Warn("cluster: answering a private message", "err", err)
	}
}

// Kick asks every other node to remove its members called nick (compared
// by room.NickKey) for reason. The caller removes its own.
func (n *Node) Kick(ctx context.Context, nick string, reason room.Reason) error {
	data, err := json.Marshal(kickMessage{From: n.o.Node, Nick: nick, Kind: reason.Kind, Detail: cutBytes(reason.Detail, maxKick/2)})
	if err != nil {
		return err
	}
	if err := n.nc.Publish(n.kickSubject(), data); err != nil {
		return fmt.Errorf("cluster: kicking %q: %w", nick, err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.o.Timeout)
	defer cancel()
	if err := n.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("cluster: kicking %q: %w", nick, err)
	}
	return nil
}

// handleKick removes this node's members a kick from another node names.
func (n *Node) handleKick(msg *nats.Msg) {
	var k kickMessage
	if len(msg.Data) > maxKick || json.Unmarshal(msg.Data, &k) != nil || !validNode(k.From) ||
		k.Nick == "" || len(k.Nick) > maxNickBytes || k.Kind > room.ReasonRefused {
		n.metrics.badRecords.Inc()
		return
	}
	r := n.attachedRoom()
	if k.From == n.o.Node || r == nil {
		return
	}
	key := room.NickKey(k.Nick)
	gone := r.Remove(func(mi room.MemberInfo) bool { return room.NickKey(mi.Nick) == key }, room.Reason{Kind: k.Kind, Detail: k.Detail})
	if len(gone) > 0 {
		n.log.Info("cluster: removed on another node's word", "from", k.From, "nick", k.Nick)
	}
}

// cutBytes returns s cut to at most max bytes, at a rune boundary.
func cutBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}
