package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketsAreContiguous(t *testing.T) {
	prevHigh := int64(-1)
	for i := range histBuckets {
		if bucketOf(prevHigh+1) != i {
			t.Fatalf("value %d is in bucket %d, want %d", prevHigh+1, bucketOf(prevHigh+1), i)
		}
		high := bucketHigh(i)
		if bucketOf(high) != i {
			t.Fatalf("bucket %d's highest value %d is in bucket %d", i, high, bucketOf(high))
		}
		if high == math.MaxInt64 {
			if i != bucketOf(math.MaxInt64) {
				t.Fatalf("MaxInt64 is in bucket %d, reached at %d", bucketOf(math.MaxInt64), i)
			}
			return
		}
		prevHigh = high
	}
	t.Fatalf("buckets end at %d, before MaxInt64", prevHigh)
}

func TestQuantilesMatchSortedSamples(t *testing.T) {
	h := newHistogram()
	r := rand.New(rand.NewPCG(1, 2))
	samples := make([]int64, 100_000)
	for i := range samples {
		// log-uniform from 10 µs to 10 s
		samples[i] = int64(math.Exp(math.Log(1e4) + r.Float64()*(math.Log(1e10)-math.Log(1e4))))
		h.record(time.Duration(samples[i]))
	}
	slices.Sort(samples)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		want := samples[int(math.Ceil(q*float64(len(samples))))-1]
		got := int64(h.quantile(q))
		if got < want || float64(got-want) > float64(want)/histHalf {
			t.Errorf("quantile(%v) = %d, want %d within 1/%d above", q, got, want, histHalf)
		}
	}
	if h.count() != uint64(len(samples)) || int64(h.minimum()) != samples[0] || int64(h.maximum()) != samples[len(samples)-1] {
		t.Errorf("count %d min %v max %v, want %d %d %d", h.count(), h.minimum(), h.maximum(), len(samples), samples[0], samples[len(samples)-1])
	}
}

func TestHistogramEdges(t *testing.T) {
	h := newHistogram()
	if h.quantile(0.5) != 0 || h.minimum() != 0 || h.maximum() != 0 || h.mean() != 0 {
		t.Error("an empty histogram reports non-zero values")
	}
	h.record(-5) // a clock step
	h.record(time.Duration(math.MaxInt64))
	if h.minimum() != 0 || h.maximum() != math.MaxInt64 || h.quantile(1) != math.MaxInt64 {
		t.Errorf("min %d max %d p100 %d", h.minimum(), h.maximum(), h.quantile(1))
	}
}

func TestHistogramConcurrentRecords(t *testing.T) {
	h := newHistogram()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				h.record(time.Duration(g*1000 + i + 1))
			}
		})
	}
	wg.Wait()
	if h.count() != 8000 || h.minimum() != 1 || h.maximum() != 8000 {
		t.Errorf("count %d min %d max %d, want 8000 1 8000", h.count(), h.minimum(), h.maximum())
	}
}
