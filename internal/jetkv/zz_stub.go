package jetkv

// STUB for the lead's wiring branch only; replaced by the kv branch at merge.

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"chatd/access"
)

type Options struct {
	Prefix   string
	Timeout  time.Duration
	Replicas int
	Logger   *slog.Logger
}
type Backend struct{ access.Backend }

func Open(ctx context.Context, nc *nats.Conn, o Options) (*Backend, error) { return nil, nil }
