package main

import (
	"regexp"
	"sync"
)

// errorTally counts errors by message, keeping a bounded number of distinct
// messages.
type errorTally struct {
	mu     sync.Mutex
	counts map[string]int
	order  []string
	n      int
}

const maxDistinctErrors = 10

func newErrorTally() *errorTally { return &errorTally{counts: make(map[string]int)} }

// addrPattern matches the addresses and ports that make otherwise equal
// errors differ from one connection to the next.
var addrPattern = regexp.MustCompile(`(\[[0-9a-fA-F:.%a-z]+\]|\d+\.\d+\.\d+\.\d+):\d+`)

// add counts err under its message, with ports masked.
func (t *errorTally) add(err error) {
	msg := addrPattern.ReplaceAllString(err.Error(), "$1:PORT")
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	if _, ok := t.counts[msg]; !ok {
		if len(t.order) >= maxDistinctErrors {
			msg = "other errors"
		}
		if _, ok := t.counts[msg]; !ok {
			t.order = append(t.order, msg)
		}
	}
	t.counts[msg]++
}

// total is how many errors were added.
func (t *errorTally) total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// first is the first error message seen.
func (t *errorTally) first() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.order) == 0 {
		return "no error recorded"
	}
	return t.order[0]
}

// snapshot returns the counts by kind, in the order first seen.
func (t *errorTally) snapshot() []ErrorCount {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ErrorCount, 0, len(t.order))
	for _, msg := range t.order {
		out = append(out, ErrorCount{Error: msg, Count: t.counts[msg]})
	}
	return out
}
