// Package gateway is the shape every way into the room shares, so that the
// TLS server (tlsgw) and the SSH server (sshgw) start, count and stop the
// same way and cmd/chatd runs them as a list:
//
//   - Server is what cmd/chatd runs: Serve a listener until Shutdown.
//   - Lifecycle is the state and the accept loop behind a Server: its
//     listeners, its connections, its live sessions and whether it is
//     shutting down, with one shutdown order (stop accepting, ask the
//     sessions to end, wait for them, close what is left).
//   - ConnectionMetrics are the connection series every gateway exports.
//
// What a session is, and how it is asked to end, stays the gateway's own.
// The connection limits are the listener's: cmd/chatd hands every gateway
// a listener wrapped by connlimit's guard, so the accept loop only ever
// sees connections within the limits.
package gateway

import (
	"context"
	"errors"
	"net"
)

// ErrServerClosed is returned by a gateway's Serve once Shutdown has been
// called.
var ErrServerClosed = errors.New("gateway: server closed")

// Server is a gateway as cmd/chatd runs it.
type Server interface {
	// Name names the gateway in logs and errors: "TLS", "SSH".
	Name() string
	// Serve accepts connections on ln until Shutdown, then returns
	// ErrServerClosed; any other error means ln failed. It closes ln.
	Serve(ln net.Listener) error
	// Shutdown stops accepting, asks the live sessions to end and waits
	// for them until ctx is done, then closes what is left. It returns
	// ctx's error if the sessions had to be cut.
	Shutdown(ctx context.Context) error
}
