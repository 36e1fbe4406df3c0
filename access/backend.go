package access

import (
	"context"
	"errors"
	"time"
)

// Bucket names one kind of record a Backend keeps.
type Bucket string

// The buckets of a Directory's records.
const (
	Accounts Bucket = "accounts" // by nickname key (room.NickKey): the account
	Roles    Bucket = "roles"    // by nickname key: operators named with /op
	Allowed  Bucket = "allowed"  // by credential: the allowlist
	Bans     Bucket = "bans"     // by what is banned: a credential or an address prefix
	Mutes    Bucket = "mutes"    // by nickname key
	Settings Bucket = "settings" // by name: the message of the day
	// Credentials indexes the accounts by credential (its String): the
	// value names the account's nickname key, so that one credential
	// belongs to one account across nodes (created with Create).
	Credentials Bucket = "credentials"
	// Links holds the outstanding link codes of a shared Backend, by
	// code, each with its time to live.
	Links Bucket = "links"
)

// BucketNames lists every bucket, for a Backend that creates them up
// front.
var BucketNames = []Bucket{Accounts, Roles, Allowed, Bans, Mutes, Settings, Credentials, Links}

// MaxRecords bounds the records of one bucket: a Backend refuses to store
// more (ErrFull), and List never returns more.
const MaxRecords = 10000

// MaxRecordBytes bounds one record's value.
const MaxRecordBytes = 16 << 10

var (
	// ErrExists: Create found a record at the key already.
	ErrExists = errors.New("record exists")
	// ErrFull: the bucket holds MaxRecords records already.
	ErrFull = errors.New("too many records")
)

// Backend keeps a Directory's records: values by key in a few buckets,
// some of them with a time to live after which the Backend forgets them
// by itself, across restarts. Keys are any string of at most 1 KiB; a
// Backend encodes them as its store requires. Values are at most
// MaxRecordBytes. Every method may be slow (a network store) and may
// fail; a Directory never calls them under a lock the room or a gateway
// waits for. Stored values are read back as hostile input: the Directory
// checks them.
type Backend interface {
	// Get returns the value at key in b; ok is false if there is none, or
	// it expired.
	Get(ctx context.Context, b Bucket, key string) (val []byte, ok bool, err error)
	// Create stores val at key in b unless a value is there already
	// (ErrExists). A ttl above zero makes it expire that long after.
	Create(ctx context.Context, b Bucket, key string, val []byte, ttl time.Duration) error
	// Put stores val at key in b, replacing what was there. A ttl above
	// zero makes it expire that long after; zero keeps it until deleted.
	Put(ctx context.Context, b Bucket, key string, val []byte, ttl time.Duration) error
	// Delete removes the value at key in b; deleting nothing is no error.
	Delete(ctx context.Context, b Bucket, key string) error
	// List returns every unexpired value of b, by key: at most MaxRecords.
	List(ctx context.Context, b Bucket) (map[string][]byte, error)
}

// Watcher is implemented by a Backend that several Directories share (the
// nodes of one room): it tells each of them every change any of them
// makes, so that a ban, a mute or a role given on one node holds on every
// node within a second.
type Watcher interface {
	// Watch calls fn with every change to b made after Watch returns,
	// from a goroutine of its own, one call at a time, in the order the
	// store made them: the key, its new value, or deleted (a delete, or an
	// expiry the store announces). It goes on until ctx is done. A change
	// fn misses (the store was unreachable for a while) is made up for:
	// the Backend then calls fn with every key whose value differs from
	// what fn was last told, and with deleted for every key gone since.
	// Values are hostile input, as List's.
	Watch(ctx context.Context, b Bucket, fn func(key string, val []byte, deleted bool)) error
}

// Taker is implemented by a Backend that can remove a value atomically
// as it reads it: of several Takes of one value, from any Directory
// sharing the Backend, exactly one gets it (link codes are good once).
type Taker interface {
	// Take removes the value at key in b and returns it; ok is false if
	// there is none (or it expired, or another Take got it first).
	Take(ctx context.Context, b Bucket, key string) (val []byte, ok bool, err error)
}
