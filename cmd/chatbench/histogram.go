package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The latency histogram is log-linear, like HdrHistogram: values below
// 2^histSubBits nanoseconds have a bucket each; above that every power of two
// is cut into 2^(histSubBits-1) equal buckets, so a reported value is within
// 1/128 (0.8%) of the true one. Its size is fixed (about 58 KiB) however many
// samples it holds, and recording is one atomic add, so any number of
// receivers can share it.
const (
	histSubBits = 8
	histSub     = 1 << histSubBits // values below this are exact
	histHalf    = histSub / 2      // buckets per power of two above
	histBuckets = (63-histSubBits+1)*histHalf + histSub
)

// histogram counts latencies in nanoseconds.
type histogram struct {
	counts [histBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Uint64 // nanoseconds; wraps only after 584 years of latency
	min    atomic.Int64  // valid when total > 0
	max    atomic.Int64
}

func newHistogram() *histogram {
	h := &histogram{}
	h.min.Store(math.MaxInt64)
	return h
}

// record adds one latency; negative values (clock steps) count as zero.
func (h *histogram) record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(v)].Add(1)
	h.total.Add(1)
	h.sum.Add(uint64(v))
	for cur := h.min.Load(); v < cur && !h.min.CompareAndSwap(cur, v); cur = h.min.Load() {
	}
	for cur := h.max.Load(); v > cur && !h.max.CompareAndSwap(cur, v); cur = h.max.Load() {
	}
}

// bucketOf returns the bucket index of a non-negative value.
func bucketOf(v int64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - histSubBits
	return shift*histHalf + int(v>>shift)
}

// bucketHigh returns the largest value that falls in bucket i.
func bucketHigh(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	shift := i/histHalf - 1
	m := int64(i - shift*histHalf)
	return (m+1)<<shift - 1
}

// count returns how many latencies were recorded.
func (h *histogram) count() uint64 { return h.total.Load() }

// quantile returns the latency below or at which a fraction q (0 to 1) of
// the samples lie, never more than the maximum seen; 0 with no samples.
func (h *histogram) quantile(q float64) time.Duration {
	total := h.total.Load()
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = min(max(rank, 1), total)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(min(bucketHigh(i), h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}

// minimum returns the smallest latency seen, or 0 with no samples.
func (h *histogram) minimum() time.Duration {
	if h.total.Load() == 0 {
		return 0
	}
	return time.Duration(h.min.Load())
}

// maximum returns the largest latency seen, or 0 with no samples.
func (h *histogram) maximum() time.Duration { return time.Duration(h.max.Load()) }

// mean returns the average latency, or 0 with no samples.
func (h *histogram) mean() time.Duration {
	total := h.total.Load()
	if total == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / total)
}
