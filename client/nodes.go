package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Bounds on the servers of one room.
const (
	// MaxAddrs is the most addresses ParseAddrs takes, and the most
	// addresses one name may resolve to that a round tries.
	MaxAddrs = 16
	// maxTargets bounds the attempts of one round (Nodes.Dial), however
	// many addresses the names resolve to.
	maxTargets = 2 * MaxAddrs
	// lookupTimeout bounds resolving one name.
	lookupTimeout = 5 * time.Second
	// severalConnectTimeout bounds connecting to one of several targets,
	// so that a node whose machine is gone does not hold the round for
	// the whole JoinTimeout.
	severalConnectTimeout = 5 * time.Second
)

// ErrAddrs is matched by ParseAddrs's errors.
var ErrAddrs = errors.New("bad server address list")

// ParseAddrs reads a comma-separated list of server addresses, each HOST or
// HOST:PORT (defaultPort if it names none; an IPv6 address with a port in
// brackets, "[::1]:7443"), as chat takes them: the nodes of one room. It
// refuses an empty item and more than MaxAddrs items; the same address
// twice counts once.
func ParseAddrs(list, defaultPort string) ([]string, error) {
	items := strings.Split(list, ",")
	if len(items) > MaxAddrs {
		return nil, fmt.Errorf("%w: %d addresses, at most %d", ErrAddrs, len(items), MaxAddrs)
	}
	addrs := make([]string, 0, len(items))
	for i, item := range items {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("%w: address %d of %q is empty", ErrAddrs, i+1, list)
		}
		addr, err := withPort(item, defaultPort)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrAddrs, err)
		}
		if !containsAddr(addrs, addr) {
			addrs = append(addrs, addr)
		}
	}
	return addrs, nil
}

// withPort returns item as host:port, with defaultPort if it names none.
func withPort(item, defaultPort string) (string, error) {
	host, port, err := net.SplitHostPort(item)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(item, "["), "]"), defaultPort
	}
	if _, err := netip.ParseAddr(host); host == "" || strings.ContainsAny(host, " /[]") || (strings.Contains(host, ":") && err != nil) {
		return "", fmt.Errorf("%q is not HOST or HOST:PORT", item)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", fmt.Errorf("%q: the port %q is not a number from 1 to 65535", item, port)
	}
	return net.JoinHostPort(host, port), nil
}

func containsAddr(addrs []string, addr string) bool {
	for _, a := range addrs {
		if normalizeAddr(a) == normalizeAddr(addr) {
			return true
		}
	}
	return false
}

// Resolver looks up the IP addresses of a host name; *net.Resolver is one.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Node is one address of the servers of a room, as the user gave it
// (host:port), with the TLS configuration that verifies it: its host name
// is the one the certificate must name, and the one pins are kept for.
type Node struct {
	Addr string
	TLS  *tls.Config
}

// Nodes is the servers of one room, which a session dials in turn: each
// round resolves every name again (a name with several addresses counts
// as several nodes) and tries each address once, starting after the one
// the session was last on, since a node just lost is likely down.
type Nodes struct {
	list     []Node
	resolver Resolver
	// shuffle starts the first round at a random address, so that users
	// given the same list spread over the nodes.
	shuffle bool
}

// NewNodes returns the nodes of list, tried in that order (from a random
// one if shuffle), names resolved by resolver (net.DefaultResolver if nil).
func NewNodes(list []Node, resolver Resolver, shuffle bool) (*Nodes, error) {
	if len(list) == 0 || len(list) > MaxAddrs {
		return nil, fmt.Errorf("%w: %d addresses, want 1 to %d", ErrAddrs, len(list), MaxAddrs)
	}
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	return &Nodes{list: list, resolver: resolver, shuffle: shuffle}, nil
}

// Several reports whether there is more than one address to try, as the
// user gave them (a name that resolves to several is one here): the
// session then names the node it is on.
func (n *Nodes) Several() bool { return len(n.list) > 1 }

// target is one attempt of a round: a node, and the IP address its name
// resolved to ("" if its host is an IP address already, or its name could
// not be resolved: err says why).
type target struct {
	node Node
	ip   string
	err  error
}

// dialAddr is the network address to connect to.
func (t target) dialAddr() string {
	if t.ip == "" {
		return t.node.Addr
	}
	_, port, _ := net.SplitHostPort(t.node.Addr)
	return net.JoinHostPort(t.ip, port)
}

// String names the target for the user: the address given, and the IP
// address dialled if it was a name.
func (t target) String() string {
	if t.ip == "" {
		return t.node.Addr
	}
	return t.node.Addr + " (" + t.ip + ")"
}

// round lists the targets of one round, in order: each node's addresses as
// the resolver gives them (at most MaxAddrs each, maxTargets in all).
func (n *Nodes) round(ctx context.Context) []target {
	var out []target
	for _, node := range n.list {
		for _, t := range n.resolve(ctx, node) {
			if len(out) == maxTargets {
				return out
			}
			out = append(out, t)
		}
	}
	return out
}

// resolve returns node's targets: itself if its host is an IP address,
// else one per address its name resolves to (a failed lookup is one target
// that fails with it).
func (n *Nodes) resolve(ctx context.Context, node Node) []target {
	host, _, err := net.SplitHostPort(node.Addr)
	if err != nil {
		return []target{{node: node, err: err}}
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return []target{{node: node}}
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	ips, err := n.resolver.LookupHost(ctx, host)
	if err != nil {
		return []target{{node: node, err: fmt.Errorf("connect to %s: %w", node.Addr, err)}}
	}
	var out []target
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err != nil || len(out) == MaxAddrs {
			continue // a resolver's answer is input too
		}
		out = append(out, target{node: node, ip: a.String()})
	}
	if len(out) == 0 {
		return []target{{node: node, err: fmt.Errorf("connect to %s: %s has no address", node.Addr, host)}}
	}
	return out
}

// start says where a round begins: at the target whose dialAddr is at, or,
// with after, at the one after it; at the first if none has it (or at a
// random one, the first time, if the Nodes shuffle).
type start struct {
	at    string
	after bool
}

// order rotates targets to begin where s says.
func (n *Nodes) order(targets []target, s start) []target {
	i := -1
	for j, t := range targets {
		if s.at != "" && t.dialAddr() == s.at {
			i = j
			break
		}
	}
	switch {
	case i >= 0 && s.after:
		i = (i + 1) % len(targets)
	case i < 0 && s.at == "" && n.shuffle:
		i = rand.N(len(targets))
	case i < 0:
		i = 0
	}
	return append(targets[i:len(targets):len(targets)], targets[:i]...)
}

// Dial joins through the first node that takes cfg (whose Addr and TLS it
// replaces by the node's), trying each address of one round once, in
// order; skipped, if not nil, is told of each that failed, and why, as it
// goes on to the next. A refused nickname or a server that turns the user
// away for good (a ByeError with a Final reason) ends the round: the nodes
// of one room share their nicknames and bans. If every attempt failed, the
// error is that of the only one, or a *DialError with each.
func (n *Nodes) Dial(ctx context.Context, cfg Config, skipped func(node string, err error)) (*Conn, error) {
	c, _, err := n.dialFrom(ctx, cfg, start{}, skipped)
	return c, err
}

// roundEnd says how a round went: the network address of the last target
// tried (the one joined, or the one whose answer ended the round), and how
// many targets the round had.
type roundEnd struct {
	last    string
	targets int
}

func (n *Nodes) dialFrom(ctx context.Context, cfg Config, s start, skipped func(string, error)) (*Conn, roundEnd, error) {
	targets := n.order(n.round(ctx), s)
	end := roundEnd{targets: len(targets)}
	var failed DialError
	for _, t := range targets {
		end.last = t.dialAddr()
		if len(targets) > 1 {
			cfg.connectTimeout = severalConnectTimeout
		}
		c, err := t.dial(ctx, cfg)
		if err == nil {
			return c, end, nil
		}
		failed.Attempts = append(failed.Attempts, Attempt{Node: t.String(), Err: err})
		if ctx.Err() != nil || endsRound(err) {
			return nil, end, err
		}
		if skipped != nil && len(targets) > 1 {
			skipped(t.String(), err)
		}
	}
	if len(failed.Attempts) == 1 {
		return nil, end, failed.Attempts[0].Err
	}
	return nil, end, &failed
}

// dial makes one attempt at t.
func (t target) dial(ctx context.Context, cfg Config) (*Conn, error) {
	if t.err != nil {
		return nil, t.err
	}
	cfg.Addr, cfg.TLS, cfg.via = t.node.Addr, t.node.TLS, ""
	if t.ip != "" {
		cfg.via = t.dialAddr()
	}
	return Dial(ctx, cfg)
}

// endsRound reports whether a failed attempt is the room's answer rather
// than its node's: the nickname refused, or the user turned away for good.
func endsRound(err error) bool {
	var bye *ByeError
	return errors.Is(err, ErrNickRefused) || (errors.As(err, &bye) && bye.Reason.Final())
}

// Attempt is one failed attempt of a round.
type Attempt struct {
	Node string // the address tried, as target.String names it
	Err  error
}

// DialError is Nodes.Dial's error when every node of a round failed. It
// wraps each attempt's error, so errors.As finds, say, the first
// *UnknownCertError.
type DialError struct {
	Attempts []Attempt
}

func (e *DialError) Error() string {
	parts := make([]string, len(e.Attempts))
	for i, a := range e.Attempts {
		parts[i] = a.Node + ": " + ShortError(a.Err)
	}
	return fmt.Sprintf("none of the %d servers took the connection (%s)", len(e.Attempts), strings.Join(parts, "; "))
}

// short says it in a few words, for a status line: how many failed, and
// the last one's ShortError.
func (e *DialError) short() string {
	if len(e.Attempts) == 0 {
		return "no server to try"
	}
	return fmt.Sprintf("all %d servers failed (last: %s)", len(e.Attempts), ShortError(e.Attempts[len(e.Attempts)-1].Err))
}

// Unwrap returns each attempt's error.
func (e *DialError) Unwrap() []error {
	errs := make([]error, len(e.Attempts))
	for i, a := range e.Attempts {
		errs[i] = a.Err
	}
	return errs
}

// IsTrustError reports whether err is the refusal of a server's
// certificate by the user's trust: not signed by the CA file, unknown,
// changed since it was remembered or pinned, or naming another host, or
// expired.
func IsTrustError(err error) bool {
	var (
		unknown  *UnknownCertError
		changed  *CertChangedError
		notCA    *NotSignedByCAError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		unknownA x509.UnknownAuthorityError
		verify   *tls.CertificateVerificationError
	)
	return errors.As(err, &unknown) || errors.As(err, &changed) || errors.As(err, &notCA) ||
		errors.As(err, &hostErr) || errors.As(err, &invalid) || errors.As(err, &unknownA) || errors.As(err, &verify)
}

// everyAttempt reports whether every attempt behind err (a single
// attempt's error, or each of a DialError's) is one that is accepts.
func everyAttempt(err error, is func(error) bool) bool {
	var d *DialError
	if !errors.As(err, &d) {
		return is(err)
	}
	for _, a := range d.Attempts {
		if !is(a.Err) {
			return false
		}
	}
	return len(d.Attempts) > 0
}
