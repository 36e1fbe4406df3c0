// Package jetkv keeps access's records (an access.Backend) in NATS
// JetStream key-value buckets, one per access.Bucket, so that accounts,
// roles, bans and mutes survive restarts and span the nodes of a room:
// every node's Directory watches the buckets (Watch, an access.Watcher)
// and takes link codes once (Take, an access.Taker).
//
// Each bucket is a KV bucket as nats.go and the nats CLI know them (a
// stream KV_<name> on the subjects $KV.<name>.>), created by Open with
// the bounds of a Backend: one revision a key (history 1), at most
// Options.MaxRecords keys, values of at most access.MaxRecordBytes, and
// per-key TTLs (AllowMsgTTL, nats-server 2.11 or later), which the server
// applies by itself, across restarts. Keys are encoded (see encodeKey),
// so any string of at most MaxKeyBytes is a key and none is a wildcard.
package jetkv

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"chatd/access"
)

// Defaults of Options.
const (
	DefaultPrefix  = "CHATD_"
	DefaultTimeout = 5 * time.Second
)

// Options says where the buckets are and how long an operation may take.
type Options struct {
	// Prefix starts each bucket's name, followed by the access.Bucket in
	// upper case: CHATD_BANS by default. Letters, digits, '_' and '-'.
	Prefix string
	// Timeout bounds each call to the server (default DefaultTimeout): a
	// Get, Create, Put or Delete, each bucket's creation at Open, and each
	// batch of a List.
	Timeout time.Duration
	// Replicas is how many servers keep each bucket (default 1).
	Replicas int
	// MaxRecords bounds the keys of each bucket (default and at most
	// access.MaxRecords; tests set fewer).
	MaxRecords int
	// Logger receives warnings (records skipped by List); nil:
	// slog.Default().
	Logger *slog.Logger
}

// expiryMarkerTTL is how long the marker the server leaves when a
// record's TTL passes stays in the bucket: long enough for the watches
// to see it, short enough not to hold a record's place for long.
const expiryMarkerTTL = 5 * time.Second

// headerRoom is what a record's message needs beyond its value: the
// headers of a TTL and of an expected revision.
const headerRoom = 1024

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{0,64}$`)

func (o *Options) setDefaults() error {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if !prefixRE.MatchString(o.Prefix) {
		return fmt.Errorf("jetkv: bucket prefix %q: letters, digits, '_' and '-' only, at most 64", o.Prefix)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.MaxRecords <= 0 || o.MaxRecords > access.MaxRecords {
		o.MaxRecords = access.MaxRecords
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Backend is an access.Backend on JetStream KV buckets. It is safe for
// concurrent use. It does not own the connection: closing it is the
// caller's (the room's log's) business.
type Backend struct {
	opts    Options
	nc      *nats.Conn
	js      jetstream.JetStream
	buckets map[access.Bucket]*bucket
}

var _ access.Backend = (*Backend)(nil)

// bucket is one KV bucket: its name and its stream.
type bucket struct {
	name   string // the KV bucket's name, e.g. CHATD_BANS
	subj   string // its subjects' prefix, "$KV.CHATD_BANS."
	stream jetstream.Stream
}

// Open creates the buckets on nc's server that it does not hold yet (and
// brings those it holds to the bounds above), each within Timeout. A
// server without per-message TTLs (before 2.11) is refused.
func Open(ctx context.Context, nc *nats.Conn, o Options) (*Backend, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	if most := nc.MaxPayload(); most < access.MaxRecordBytes+headerRoom {
		return nil, fmt.Errorf("jetkv: the NATS server takes messages of at most %d bytes; records need %d", most, access.MaxRecordBytes+headerRoom)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetkv: %w", err)
	}
	b := &Backend{opts: o, nc: nc, js: js, buckets: make(map[access.Bucket]*bucket, len(access.BucketNames))}
	for _, name := range access.BucketNames {
		bu, err := b.openBucket(ctx, o.Prefix+strings.ToUpper(string(name)))
		if err != nil {
			return nil, err
		}
		b.buckets[name] = bu
	}
	return b, nil
}

// streamConfig is the stream of KV bucket name, as nats.go would create
// it, with a Backend's bounds.
func (b *Backend) streamConfig(name string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              "KV_" + name,
		Subjects:          []string{"$KV." + name + ".>"},
		MaxMsgsPerSubject: 1,
		MaxMsgs:           int64(b.opts.MaxRecords),
		MaxBytes:          -1,
		MaxMsgSize:        access.MaxRecordBytes + headerRoom, // headers count
		Storage:           jetstream.FileStorage,
		Replicas:          b.opts.Replicas,
		AllowRollup:       true,
		DenyDelete:        true,
		Duplicates:        2 * time.Minute,
		MaxConsumers:      -1,
		AllowDirect:       true,
		Discard:           jetstream.DiscardNew,
		AllowMsgTTL:       true,
		// A TTL that passes leaves a marker for this long, which
		// tells the watches (see Watch).
		SubjectDeleteMarkerTTL: expiryMarkerTTL,
	}
}

// openBucket creates or updates the stream of bucket name and checks the
// server kept what makes it a Backend's.
func (b *Backend) openBucket(ctx context.Context, name string) (*bucket, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	cfg := b.streamConfig(name)
	stream, err := b.js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, b.fail(name, "open", err)
	}
	got := stream.CachedInfo().Config
	if !got.AllowMsgTTL {
		return nil, fmt.Errorf("jetkv: bucket %s: the server has no per-key TTLs (nats-server 2.11 or later needed, this is %s)", name, b.nc.ConnectedServerVersion())
	}
	if got.MaxMsgsPerSubject != 1 || got.MaxMsgs != cfg.MaxMsgs || got.MaxMsgSize != cfg.MaxMsgSize || got.Discard != jetstream.DiscardNew {
		return nil, fmt.Errorf("jetkv: bucket %s: the server kept other bounds than asked (history %d, records %d, value bytes %d)",
			name, got.MaxMsgsPerSubject, got.MaxMsgs, got.MaxMsgSize)
	}
	return &bucket{name: name, subj: "$KV." + name + ".", stream: stream}, nil
}

// bucket returns the bucket of name.
func (b *Backend) bucket(name access.Bucket) (*bucket, error) {
	bu, ok := b.buckets[name]
	if !ok {
		return nil, fmt.Errorf("jetkv: no bucket %q", name)
	}
	return bu, nil
}

// subject returns the subject of key in bu.
func (bu *bucket) subject(key string) (string, error) {
	enc, err := encodeKey(key)
	if err != nil {
		return "", fmt.Errorf("jetkv: bucket %s: %w", bu.name, err)
	}
	return bu.subj + enc, nil
}

// fail wraps err, from operation op on bucket name: it names both, and
// says so when the server is out of reach.
func (b *Backend) fail(name, op string, err error) error {
	if st := b.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("jetkv: bucket %s: %s: the NATS server is unreachable (connection %s): %w", name, op, st, err)
	}
	return fmt.Errorf("jetkv: bucket %s: %s: %w", name, op, err)
}
