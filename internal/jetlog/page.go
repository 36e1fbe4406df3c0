package jetlog

import (
	"context"
	"fmt"
	"slices"

	"chatd/room"
)

// MaxPage bounds the events one Before returns, whatever it is asked for.
const MaxPage = 1000

var _ room.LogPager = (*Log)(nil)

// Before returns, oldest first, the last n valid events below seq (at
// most MaxPage): the page a screen scrolling back asks for. Like Replay it
// reads windows of the stream backwards, each in one batched direct get,
// skips (and counts) invalid records, and gives up once it has looked at
// maxReplayProbes messages more than n.
func (l *Log) Before(seq uint64, n int) ([]*room.Event, error) {
	if n <= 0 || seq <= 1 {
		return nil, nil
	}
	n = int(min(int64(n), l.opts.MaxMsgs, MaxPage))
	st, err := l.state() // never above what the log was acked for
	if err != nil {
		return nil, fmt.Errorf("jetlog: before: %w", err)
	}
	lowest, last := bounds(st)
	top := min(seq-1, last)
	if top < lowest {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	defer cancel()
	out, err := l.readBack(ctx, lowest, top, n)
	if err != nil {
		return nil, fmt.Errorf("jetlog: before: %w", err)
	}
	return out, nil
}

// readBack returns, oldest first, the last n valid events numbered from
// lowest to top (lowest >= 1), reading windows backwards from top.
func (l *Log) readBack(ctx context.Context, lowest, top uint64, n int) ([]*room.Event, error) {
	var out []*room.Event // newest first until the end
	looked, bad := 0, 0
	var firstBad error
	for top >= lowest && len(out) < n && looked <= n+maxReplayProbes {
		want := uint64(max(n-len(out), minWindow))
		bottom := lowest
		if top-lowest+1 > want {
			bottom = top - want + 1
		}
		window, err := l.getRange(ctx, bottom, top)
		if err != nil {
			return nil, err
		}
		looked += int(top - bottom + 1)
		for i := len(window) - 1; i >= 0 && len(out) < n; i-- {
			ev, err := l.decodeMsg(window[i])
			if err != nil {
				if bad++; firstBad == nil {
					firstBad = fmt.Errorf("seq %d: %w", window[i].seq, err)
				}
				continue
			}
			out = append(out, ev)
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
