package jetlog

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"chatd/room"
)

// MaxPage bounds the events one Before returns, whatever it is asked for,
// and MaxPageBytes the bytes of their stored records: a page of long lines
// is shorter (but never empty while there is an older event).
const (
	MaxPage      = 1000
	MaxPageBytes = 64 << 10
)

// infoFor is how long Before reuses the stream's first and last sequence
// numbers it read, rather than asking the server for them at each page.
const infoFor = time.Second

// reader is one subscription for batched direct gets and the lock that
// serialises its reads (setting one up costs more than a read of 100
// events): replies come to prefix.<n>, n counted by the reads; a reply to
// an earlier read (one that timed out) is dropped. Replay and Before each
// have their own, so that pages never queue ahead of a join's Replay.
type reader struct {
	mu     sync.Mutex
	prefix string
	sub    *nats.Subscription
	n      uint64
}

// subscribe sets the reader's subscription up on nc.
func (r *reader) subscribe(nc *nats.Conn) error {
	r.prefix = nc.NewRespInbox()
	sub, err := nc.SubscribeSync(r.prefix + ".*")
	if err != nil {
		return fmt.Errorf("jetlog: %w", err)
	}
	r.sub = sub
	return nil
}

// pageReads is Before's reader and the stream's ends it last read.
type pageReads struct {
	reader
	infoMu      sync.Mutex
	infoAt      time.Time // when first and last were read; zero: never
	first, last uint64    // the stream's first and last sequence numbers
	empty       bool      // the stream held no message
}

// ends returns the stream's first and last sequence numbers and whether it
// is empty, as read at most infoFor ago; the last is at least the highest
// sequence an Append saw acked since.
func (l *Log) ends(ctx context.Context) (first, last uint64, empty bool, err error) {
	p := &l.pages
	p.infoMu.Lock()
	defer p.infoMu.Unlock()
	if p.infoAt.IsZero() || time.Since(p.infoAt) > infoFor {
		info, err := l.stream.Info(ctx)
		if err != nil {
			return 0, 0, false, err
		}
		p.first, p.last, p.empty = info.State.FirstSeq, info.State.LastSeq, info.State.Msgs == 0
		p.infoAt = time.Now()
	}
	if acked := l.lastSeq.Load(); acked > p.last {
		return max(p.first, 1), acked, false, nil
	}
	return p.first, p.last, p.empty, nil
}

var _ room.LogPager = (*Log)(nil)

// Before returns, oldest first, the last n valid events below seq (at
// most MaxPage, and no more than MaxPageBytes of records but at least
// one): the page a screen scrolling back asks for. Its reads have their
// own subscription and lock, apart from Replay's, and the stream's ends
// are read at most once per infoFor. Like Replay it
// reads windows of the stream backwards, each in one batched direct get,
// skips (and counts) invalid records, and gives up once it has looked at
// maxReplayProbes messages more than n.
func (l *Log) Before(seq uint64, n int) ([]*room.Event, error) {
	if n <= 0 || seq <= 1 {
		return nil, nil
	}
	n = int(min(int64(n), l.opts.MaxMsgs, MaxPage))
	if err := l.brokenErr(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	defer cancel()
	first, last, empty, err := l.ends(ctx)
	if err != nil {
		return nil, fmt.Errorf("jetlog: before: %w", err)
	}
	if !l.opts.Shared {
		last = min(last, l.lastSeq.Load()) // never above what the log was acked for (reconcile.go)
	} else if seq-1 > last {
		// Other nodes appended since the ends were read: read them anew.
		info, err := l.stream.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("jetlog: before: %w", err)
		}
		first, last, empty = info.State.FirstSeq, info.State.LastSeq, info.State.Msgs == 0
	}
	lowest, top := max(first, 1), min(seq-1, last)
	if empty || top < lowest {
		return nil, nil
	}
	out, err := l.readBack(ctx, lowest, top, n)
	if err != nil {
		return nil, fmt.Errorf("jetlog: before: %w", err)
	}
	return out, nil
}

// readBack returns, oldest first, the last n valid events numbered from
// lowest to top (lowest >= 1), reading windows backwards from top, and
// stops before the records it returns would exceed MaxPageBytes.
func (l *Log) readBack(ctx context.Context, lowest, top uint64, n int) ([]*room.Event, error) {
	var out []*room.Event // newest first until the end
	looked, bad, size := 0, 0, 0
	var firstBad error
	full := false // MaxPageBytes reached
	for top >= lowest && len(out) < n && !full && looked <= n+maxReplayProbes {
		want := uint64(max(n-len(out), minWindow))
		bottom := lowest
		if top-lowest+1 > want {
			bottom = top - want + 1
		}
		window, err := l.getRange(ctx, &l.pages.reader, bottom, top)
		if err != nil {
			return nil, err
		}
		looked += int(top - bottom + 1)
		for i := len(window) - 1; i >= 0 && len(out) < n; i-- {
			if len(out) > 0 && size+len(window[i].data) > MaxPageBytes {
				full = true
				break
			}
			ev, err := l.decodeMsg(window[i])
			if err != nil {
				if bad++; firstBad == nil {
					firstBad = fmt.Errorf("seq %d: %w", window[i].seq, err)
				}
				continue
			}
			out = append(out, ev)
			size += len(window[i].data)
		}
		top = bottom - 1
	}
	if bad > 0 {
		total := l.skipped.Add(uint64(bad))
		l.opts.Logger.Warn("jetlog: invalid stored records skipped", "stream", l.opts.Stream,
			"skipped", bad, "skipped_total", total, "first", firstBad)
	}
	slices.Reverse(out)
	return out, nil
}

// decodeMsg decodes one stored message, which must be on the log's subject.
// It accepts a record as long as any may be (MaxMaxText, storedRecordMax),
// not only as long as Options.MaxText allows now: a record written under a
// larger limit (chatd's --max-line, since lowered) is chatd's own and
// stays readable; Append still refuses a text over Options.MaxText.
func (l *Log) decodeMsg(m rawMsg) (*room.Event, error) {
	ev, err := decode(m.data, m.seq, MaxMaxText, storedRecordMax)
	if err == nil && m.subject != l.opts.Subject {
		err = fmt.Errorf("%w: subject %.40q", errRecord, m.subject)
	}
	return ev, err
}
