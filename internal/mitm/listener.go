package mitm

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// listener is what the TLS and SSH proxies share: the accept loop, the
// bound on connections, the connections to cut at Close, and the
// goroutines to wait for.
type listener struct {
	ln     net.Listener
	out    *transcript
	slots  chan struct{}
	handle func(net.Conn) bool // relays one client; whether anything was
	// life ends at Close: it bounds the dials and handshakes under way.
	life   context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Accept errors other than the listener's close are retried after a
// pause that doubles from minAcceptPause to maxAcceptPause (running out of
// file descriptors passes).
const (
	minAcceptPause = 5 * time.Millisecond
	maxAcceptPause = time.Second
)

// listen opens the listener; handle relays each client admitted.
func listen(ctx context.Context, addr string, maxConns int, out *transcript, handle func(net.Conn) bool) (*listener, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	l := &listener{ln: ln, out: out, slots: make(chan struct{}, maxConns), handle: handle, conns: map[net.Conn]struct{}{}}
	l.life, l.cancel = context.WithCancel(context.Background())
	return l, nil
}

// Addr is the address the proxy listens on.
func (l *listener) Addr() net.Addr { return l.ln.Addr() }

// Serve accepts and relays clients until ctx ends or Close is called,
// then returns once every connection's goroutines are done.
func (l *listener) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, l.Close)
	defer stop()
	defer l.out.Close() // once every connection is done: the counts held back said
	defer l.wg.Wait()
	pause := time.Duration(0)
	for {
		c, err := l.ln.Accept()
		if err == nil {
			pause = 0
			l.admit(c)
			continue
		}
		if l.isClosed() {
			return nil
		}
		pause = min(max(2*pause, minAcceptPause), maxAcceptPause)
		l.out.event(l.ln.Addr(), fmt.Sprintf("accept: %v; trying again in %v", err, pause))
		select {
		case <-time.After(pause):
		case <-l.life.Done():
			return nil
		}
	}
}

// admit relays c if a slot is free, else refuses it.
func (l *listener) admit(c net.Conn) {
	select {
	case l.slots <- struct{}{}:
	default:
		l.out.refusal(c.RemoteAddr(), fmt.Sprintf("refused: already %d connections (--max-conns)", cap(l.slots)))
		c.Close()
		return
	}
	if !l.track(c) {
		<-l.slots
		c.Close()
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		relayed := l.handle(c)
		l.untrack(c)
		<-l.slots
		if relayed { // said once its slot is free
			l.out.event(c.RemoteAddr(), "closed")
		}
	}()
}

// track remembers an open connection so that Close can cut it; false if
// the proxy is closed.
func (l *listener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *listener) untrack(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

func (l *listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Close stops listening and cuts every connection; Serve returns once
// their goroutines are done.
func (l *listener) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	l.cancel()
	l.ln.Close()
	for c := range l.conns {
		c.Close()
	}
}
