package jetkv

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"chatd/access"
)

// createTries bounds Create's attempts when what it found at the key
// changes under it (a dead record expiring, another Create).
const createTries = 3

// Get returns the value at key in name, unless there is none, it was
// deleted, or its TTL has passed (the server removes it within a moment;
// Get does not wait for that).
func (b *Backend) Get(ctx context.Context, name access.Bucket, key string) ([]byte, bool, error) {
	_, msg, err := b.lastLive(ctx, name, key, "get")
	if msg == nil || err != nil {
		return nil, false, err
	}
	return msg.Data, true, nil
}

// lastLive returns the bucket of name, and the last message stored at key
// in it if it is a live value (nil if there is none, or it was deleted or
// expired); op names the operation in an error.
func (b *Backend) lastLive(ctx context.Context, name access.Bucket, key, op string) (*bucket, *jetstream.RawStreamMsg, error) {
	bu, err := b.bucket(name)
	if err != nil {
		return nil, nil, err
	}
	subj, err := bu.subject(key)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	msg, err := bu.stream.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return bu, nil, nil
	}
	if err != nil {
		return nil, nil, b.fail(bu.name, op, err)
	}
	if !live(msg.Header, msg.Time, time.Now()) {
		return bu, nil, nil
	}
	return bu, msg, nil
}

// Create stores val at key in name unless a live value is there
// (access.ErrExists). A ttl above zero makes it expire that long after,
// rounded up to whole seconds (the server's granularity).
func (b *Backend) Create(ctx context.Context, name access.Bucket, key string, val []byte, ttl time.Duration) error {
	bu, subj, err := b.prepare(name, key, val)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	var last uint64 // the revision expected at the key: 0, none
	for range createTries {
		err = b.publish(ctx, bu, subj, val, ttl, jetstream.WithExpectLastSequencePerSubject(last))
		if !wrongLast(err) {
			return err
		}
		// Something is there: a live value, or a dead one (deleted by
		// another writer, expired) to be replaced at its revision.
		msg, err := bu.stream.GetLastMsgForSubject(ctx, subj)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			last = 0
		case err != nil:
			return b.fail(bu.name, "create", err)
		case live(msg.Header, msg.Time, time.Now()):
			return fmt.Errorf("jetkv: bucket %s: %w", bu.name, access.ErrExists)
		default:
			last = msg.Sequence
		}
	}
	return fmt.Errorf("jetkv: bucket %s: create: the key kept changing under %d attempts", bu.name, createTries)
}

// Put stores val at key in name, replacing what was there. A ttl above
// zero makes it expire that long after, rounded up to whole seconds; zero
// keeps it until deleted.
func (b *Backend) Put(ctx context.Context, name access.Bucket, key string, val []byte, ttl time.Duration) error {
	bu, subj, err := b.prepare(name, key, val)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	return b.publish(ctx, bu, subj, val, ttl)
}

// Delete removes the value at key in name: it purges the key's subject,
// leaving no marker that would count against MaxRecords, and tells the
// bucket's watches (see Watch).
func (b *Backend) Delete(ctx context.Context, name access.Bucket, key string) error {
	bu, err := b.bucket(name)
	if err != nil {
		return err
	}
	subj, err := bu.subject(key)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	if err := bu.stream.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
		return b.fail(bu.name, "delete", err)
	}
	// The purge leaves nothing a watch sees: tell the watches, which read
	// the bucket again. A notice lost (a watch's connection down) is made
	// up for by the watch's re-read when it reconnects.
	if err := b.nc.Publish(noticeSubject(bu.name), nil); err != nil {
		b.opts.Logger.Warn("jetkv: the watches were not told of a delete", "bucket", bu.name, "err", err)
	}
	return nil
}

// prepare checks a value to store and returns its bucket and subject.
func (b *Backend) prepare(name access.Bucket, key string, val []byte) (*bucket, string, error) {
	bu, err := b.bucket(name)
	if err != nil {
		return nil, "", err
	}
	if len(val) > access.MaxRecordBytes {
		return nil, "", fmt.Errorf("jetkv: bucket %s: a record of %d bytes (at most %d)", bu.name, len(val), access.MaxRecordBytes)
	}
	subj, err := bu.subject(key)
	if err != nil {
		return nil, "", err
	}
	return bu, subj, nil
}

// publish stores val on subj, with a TTL if ttl is above zero. The
// server's refusal while the bucket holds MaxRecords records (its
// MaxMsgs, discarding new) is access.ErrFull; a wrong
// last revision is returned unwrapped, for Create.
func (b *Backend) publish(ctx context.Context, bu *bucket, subj string, val []byte, ttl time.Duration, opts ...jetstream.PublishOpt) error {
	if ttl > 0 {
		opts = append(opts, jetstream.WithMsgTTL(wholeSeconds(ttl)))
	}
	_, err := b.js.PublishMsg(ctx, &nats.Msg{Subject: subj, Data: val}, opts...)
	if err == nil || wrongLast(err) {
		return err
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) { // not the server's refusal: a timeout, a lost connection
		return b.fail(bu.name, "put", err)
	}
	if info, ierr := bu.stream.Info(ctx); ierr == nil && info.State.Msgs >= uint64(b.opts.MaxRecords) {
		return fmt.Errorf("jetkv: bucket %s: %w: it holds %d", bu.name, access.ErrFull, info.State.Msgs)
	}
	return b.fail(bu.name, "put", err)
}

// wrongLast says err is the server refusing a publish that expected
// another last revision at the key (a CAS conflict).
func wrongLast(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// wholeSeconds rounds d up to whole seconds: the server truncates a TTL
// to seconds and refuses one below a second.
func wholeSeconds(d time.Duration) time.Duration {
	return (d + time.Second - 1).Truncate(time.Second)
}

// live says a stored message is a value, not a marker (a KV delete or
// purge, a server's removal marker), and its TTL, if any, has not passed
// at now.
func live(h nats.Header, stored, now time.Time) bool {
	if h.Get("KV-Operation") != "" || h.Get(jetstream.MarkerReasonHeader) != "" {
		return false
	}
	ttl, ok := parseTTL(h.Get(jetstream.MsgTTLHeader))
	return !ok || now.Before(stored.Add(ttl))
}

// parseTTL reads a Nats-TTL header as the server does: a duration or
// whole seconds. ok is false for none, "never", or one the server would
// not have stored.
func parseTTL(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	if d, err := time.ParseDuration(s); err == nil {
		return d.Truncate(time.Second), d >= time.Second
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > int64(1<<62/time.Second) {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}
