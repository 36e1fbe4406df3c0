package access

// STUB for the lead's wiring branch only; replaced by the acc branch at merge.

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"chatd/room"
)

type Policy uint8

const (
	Open Policy = iota
	Registered
	Allowlist
)

func ParsePolicy(s string) (Policy, error) { return Open, nil }
func (p Policy) String() string          { return "open" }

type Options struct {
	Backend       Backend
	Policy        Policy
	AdminsFile    string
	AllowlistFile string
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
	Now           func() time.Time
}
type Directory struct{}

func New(ctx context.Context, o Options) (*Directory, error)                   { return &Directory{}, nil }
func (d *Directory) Reload() error                                            { return nil }
func (d *Directory) Nicks(inner room.Nicks) room.Nicks                        { return inner }
func (d *Directory) Greeting(nick string, id room.Identity) []string          { return nil }
func (d *Directory) Operator(id room.Identity) bool                           { return false }
func (d *Directory) Muted(nick string, id room.Identity) (time.Time, bool)    { return time.Time{}, false }
func (d *Directory) Admit(id room.Identity) error                             { return nil }
func (d *Directory) Run(ctx context.Context, id room.Identity, args []string) ([]string, error) {
	return nil, nil
}
func (d *Directory) Attach(r *room.Room) error { return nil }
func (d *Directory) Close() error              { return nil }
