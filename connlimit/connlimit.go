// Package connlimit guards chatd's listeners: it caps connections in all and
// per IP address, and the rate at which one address may open new ones, so
// that scanners and floods of half-open connections cannot starve real users.
// One Guard is shared by every listener, so the limits span TLS and SSH. The
// connections it lets through count their bytes for the logs (see Bytes).
package connlimit

import (
	"errors"
	"maps"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Defaults for Limits fields left zero.
const (
	DefaultMaxConns   = 10000
	DefaultMaxPerIP   = 32
	DefaultRatePerIP  = 2.0 // new connections per second, sustained
	DefaultBurstPerIP = 20  // new connections at once
	// maxTracked bounds the addresses remembered; past it, idle ones are
	// forgotten.
	maxTracked = 1 << 16
)

// Limits configures a Guard.
type Limits struct {
	MaxConns   int     // connections open at once, from everyone
	MaxPerIP   int     // connections open at once from one address
	RatePerIP  float64 // new connections per second from one address
	BurstPerIP int     // new connections at once from one address
	// Refused, if set, is told about each refused connection and why.
	Refused func(remote net.Addr, reason string)
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

func (l Limits) withDefaults() Limits {
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.MaxPerIP <= 0 {
		l.MaxPerIP = DefaultMaxPerIP
	}
	if l.RatePerIP <= 0 {
		l.RatePerIP = DefaultRatePerIP
	}
	if l.BurstPerIP <= 0 {
		l.BurstPerIP = DefaultBurstPerIP
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	return l
}

// Reasons a connection is refused.
const (
	ReasonTotal = "too many connections"
	ReasonPerIP = "too many connections from this address"
	ReasonRate  = "connecting too often from this address"
)

// Guard counts connections and refuses those over the limits.
type Guard struct {
	limits Limits

	mu      sync.Mutex
	total   int
	peers   map[netip.Addr]*peer
	refused map[string]uint64 // by reason
}

type peer struct {
	open    int
	opening *rate.Limiter
}

// New returns a Guard enforcing limits.
func New(limits Limits) *Guard {
	return &Guard{limits: limits.withDefaults(), peers: make(map[netip.Addr]*peer), refused: make(map[string]uint64)}
}

// Open counts a new connection from remote. It returns a release function
// to call exactly once when the connection closes, or the reason to refuse.
func (g *Guard) Open(remote net.Addr) (release func(), refusal string) {
	ip := addrOf(remote)
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.peer(ip)
	switch {
	case g.total >= g.limits.MaxConns:
		refusal = ReasonTotal
	case p.open >= g.limits.MaxPerIP:
		refusal = ReasonPerIP
	case !p.opening.AllowN(g.limits.Now(), 1):
		refusal = ReasonRate
	}
	if refusal != "" {
		g.refused[refusal]++
		return nil, refusal
	}
	g.total++
	p.open++
	var once sync.Once
	return func() { once.Do(func() { g.release(ip) }) }, ""
}

func (g *Guard) release(ip netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	if p := g.peers[ip]; p != nil {
		p.open--
	}
}

// peer returns the record for ip, making one if needed. The caller holds
// g.mu.
func (g *Guard) peer(ip netip.Addr) *peer {
	if p := g.peers[ip]; p != nil {
		return p
	}
	if len(g.peers) >= maxTracked {
		g.forgetIdle()
	}
	p := &peer{opening: rate.NewLimiter(rate.Limit(g.limits.RatePerIP), g.limits.BurstPerIP)}
	g.peers[ip] = p
	return p
}

// forgetIdle drops addresses with no open connection. The caller holds g.mu.
func (g *Guard) forgetIdle() {
	for ip, p := range g.peers {
		if p.open == 0 {
			delete(g.peers, ip)
		}
	}
}

// Refused returns how many connections were refused, by reason.
func (g *Guard) Refused() map[string]uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.refused)
}

// OpenConns reports how many connections are open now.
func (g *Guard) OpenConns() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total
}

// Source returns the address a connection from a is counted under, as
// text (see addrOf), or "" if a has no IP address. Other parts use it to
// tell clients apart the same way.
func Source(a net.Addr) string {
	if ip := addrOf(a); ip.IsValid() {
		return ip.String()
	}
	return ""
}

// addrOf returns the address a connection is counted under: its remote IPv4
// address, or its remote IPv6 address's /64 network, since one host is
// usually given a whole /64. Connections without an IP address (such as
// in-memory pipes) share the zero address.
func addrOf(a net.Addr) netip.Addr {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap()
	if ip.Is6() {
		if prefix, err := ip.Prefix(64); err == nil {
			return prefix.Addr()
		}
	}
	return ip
}

// Listen wraps ln so that connections over the limits are closed as soon as
// they are accepted, and the others are counted until they close.
func (g *Guard) Listen(ln net.Listener) net.Listener {
	return &listener{Listener: ln, guard: g}
}

type listener struct {
	net.Listener
	guard *Guard
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		release, refusal := l.guard.Open(conn.RemoteAddr())
		if refusal == "" {
			return &countedConn{Conn: conn, release: release}, nil
		}
		if l.guard.limits.Refused != nil {
			l.guard.limits.Refused(conn.RemoteAddr(), refusal)
		}
		conn.Close()
	}
}

// countedConn releases its count when closed, and counts its bytes.
type countedConn struct {
	net.Conn
	release func()
	in, out atomic.Int64
}

func (c *countedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.in.Add(int64(n))
	return n, err
}

func (c *countedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.out.Add(int64(n))
	return n, err
}

// Bytes returns how many bytes were read from and written to the
// connection so far.
func (c *countedConn) Bytes() (in, out int64) { return c.in.Load(), c.out.Load() }

// Bytes returns the bytes read from and written to a connection that a
// Guard's listener accepted, or zeros for another connection.
func Bytes(conn net.Conn) (in, out int64) {
	if c, ok := conn.(interface{ Bytes() (int64, int64) }); ok {
		return c.Bytes()
	}
	return 0, 0
}

func (c *countedConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// CloseWrite half-closes the connection, if the underlying one can.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
