package tlsgw

import (
	"crypto/tls"
	"errors"
	"io"
	"maps"
	"strings"
	"syscall"
)

// Stats is a snapshot of the gateway's counters, for metrics.
type Stats struct {
	Open              int                       // connections open now
	Accepted          uint64                    // connections accepted
	Handshakes        map[HandshakeLabel]uint64 // completed handshakes
	HandshakeFailures map[string]uint64         // failed handshakes, by HandshakeFailure class
}

// HandshakeLabel is what a completed handshake negotiated.
type HandshakeLabel struct {
	Version string // "TLS 1.3"
	Group   string // key exchange, "X25519MLKEM768"
}

// Stats returns a snapshot of the gateway's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Open:              len(s.conns),
		Accepted:          s.accepted,
		Handshakes:        maps.Clone(s.handshakes),
		HandshakeFailures: maps.Clone(s.handshakeFailures),
	}
}

func (s *Server) countHandshake(st tls.ConnectionState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handshakes[HandshakeLabel{Version: tls.VersionName(st.Version), Group: st.CurveID.String()}]++
}

func (s *Server) countHandshakeFailure(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handshakeFailures[HandshakeFailure(err)]++
}

// HandshakeFailure sorts a handshake error into a few classes: timeout,
// not tls, client closed, protocol version, no shared cipher, client
// rejected certificate, client alert and other.
func HandshakeFailure(err error) string {
	var rhe tls.RecordHeaderError
	msg := err.Error()
	switch {
	case isTimeout(err):
		return "timeout"
	case errors.As(err, &rhe):
		return "not tls"
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return "client closed"
	case strings.Contains(msg, "unsupported versions"), strings.Contains(msg, "protocol version"):
		return "protocol version"
	case strings.Contains(msg, "no cipher suite"):
		return "no shared cipher"
	case strings.Contains(msg, "remote error: tls: bad certificate"),
		strings.Contains(msg, "remote error: tls: unknown certificate"),
		strings.Contains(msg, "remote error: tls: certificate"):
		return "client rejected certificate"
	case strings.Contains(msg, "remote error"):
		return "client alert"
	}
	return "other"
}
