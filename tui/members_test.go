package tui

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"chatd/room"
)

// height returns the number of levels of the tree under n.
func height(n *nickNode) int {
	if n == nil {
		return 0
	}
	return 1 + max(height(n.left), height(n.right))
}

// TestMemberTreeStaysBalanced joins members in the order that degrades a
// plain search tree to a list (sorted, as a server would choose it) and
// checks that the tree stays about log2(n) deep, so that a join costs
// O(log n).
func TestMemberTreeStaysBalanced(t *testing.T) {
	var m members
	for i := range maxListed {
		m.add(fmt.Sprintf("u%06d", i))
	}
	// A treap's expected height is about 3 log2(n); 4 log2(n) is exceeded
	// with a negligible probability.
	if h, most := height(m.names.root), 4*bits.Len(maxListed); h > most {
		t.Fatalf("%d sorted joins made a tree %d deep, want at most %d", maxListed, h, most)
	}
	for i := range maxListed / 2 {
		m.remove(fmt.Sprintf("u%06d", i))
	}
	if h, most := height(m.names.root), 4*bits.Len(maxListed/2); h > most {
		t.Fatalf("after leaves the tree is %d deep, want at most %d", h, most)
	}
}

// TestMemberListMatchesASortedList applies random joins, leaves and
// renames, case variants included, to the list and to a plain sorted
// slice, and checks that they agree at every step.
func TestMemberListMatchesASortedList(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var m members
	var want []string
	index := func(nick string) int {
		return slices.IndexFunc(want, func(n string) bool { return strings.EqualFold(n, nick) })
	}
	insert := func(nick string) {
		i, _ := slices.BinarySearchFunc(want, nick, room.CompareNicks)
		want = slices.Insert(want, i, nick)
	}
	nick := func() string {
		n := fmt.Sprintf("nick%d", rng.IntN(300))
		if rng.IntN(3) == 0 {
			n = strings.ToUpper(n[:1]) + n[1:]
		}
		return n
	}
	for step := range 20_000 {
		switch a, b := nick(), nick(); rng.IntN(3) {
		case 0:
			m.add(a)
			if index(a) < 0 {
				insert(a)
			}
		case 1:
			m.remove(a)
			if i := index(a); i >= 0 {
				want = slices.Delete(want, i, i+1)
			}
		case 2:
			m.rename(a, b)
			if i := index(a); i >= 0 {
				want = slices.Delete(want, i, i+1)
				if index(b) < 0 {
					insert(b)
				}
			}
		}
		if got := m.first(maxListed); !slices.Equal(got, want) || m.names.len() != len(want) {
			t.Fatalf("step %d: list %q (%d), want %q", step, got, m.names.len(), want)
		}
	}
}

// TestMemberListIsCapped floods the list with joins past maxListed: it
// names the first maxListed members in order, counts the rest, and still
// counts those not named when they leave.
func TestMemberListIsCapped(t *testing.T) {
	var m members
	const extra = 50
	for i := range maxListed + extra {
		m.add(fmt.Sprintf("u%06d", maxListed+extra-1-i)) // the last in order first
	}
	if m.names.len() != maxListed || m.len() != maxListed+extra {
		t.Fatalf("%d named of %d, want %d of %d", m.names.len(), m.len(), maxListed, maxListed+extra)
	}
	if first := m.first(3); !slices.Equal(first, []string{"u000000", "u000001", "u000002"}) {
		t.Fatalf("first names %q: the list lost the first in order", first)
	}
	m.remove(fmt.Sprintf("u%06d", maxListed+extra-1)) // not named, counted
	m.remove("u000000")                               // named
	if m.len() != maxListed+extra-2 {
		t.Fatalf("after two leaves the count is %d, want %d", m.len(), maxListed+extra-2)
	}

	// A member list naming more than maxListed keeps the first of them.
	nicks := make([]string, 3*maxListed)
	for i := range nicks {
		nicks[i] = fmt.Sprintf("m%06d", len(nicks)-i)
	}
	m.set(nicks, 0)
	if m.names.len() != maxListed || m.len() != len(nicks) || m.first(1)[0] != "m000001" {
		t.Fatalf("a list of %d: %d named of %d, first %q", len(nicks), m.names.len(), m.len(), m.first(1))
	}
}

// TestScreenShowsACappedMemberList checks what a screen shows of a room
// bigger than the list it keeps: the first names, how many more, the count.
func TestScreenShowsACappedMemberList(t *testing.T) {
	m, _ := newTestModel(t, "alice", 100, 10)
	evs := make([]*room.Event, 0, maxListed+100)
	for i := range maxListed + 100 {
		evs = append(evs, ev(room.Join, fmt.Sprintf("u%06d", i), "", ""))
	}
	feed(m, evs...)
	text := screenText(m)
	for _, want := range []string{"members (10100)", "u000000", "u000005", "+10094 more", "chatd · 10100 members · alice"} {
		if !strings.Contains(text, want) {
			t.Errorf("screen lacks %q:\n%s", want, text)
		}
	}
}

func TestScrollbackKeepsABoundedSizeOfText(t *testing.T) {
	c := newFakeConn("alice")
	const budget = 100 << 10
	m := New(Options{Conn: c, Location: time.UTC, ScrollbackBytes: budget})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 10})
	press(m, "pgup") // scrolled up, the screen cannot forget rendered lines
	long := strings.Repeat("many words of text ", 500)
	for i := range 300 {
		feed(m, chat("bob", fmt.Sprintf("%d %s", i, long)))
	}
	sb := m.sb
	if sb.bytes > budget+budget/4 || len(sb.entries) > budget/len(long)+budget/4/len(long)+1 {
		t.Fatalf("kept %d messages of %d bytes in all, over the %d bytes budget", len(sb.entries), sb.bytes, budget)
	}
	if sb.bytes < budget/2 {
		t.Fatalf("kept only %d bytes of a %d bytes budget", sb.bytes, budget)
	}
	press(m, "end")
	if !strings.Contains(screenText(m), "words of text") {
		t.Fatalf("the newest message is not shown:\n%s", screenText(m))
	}
}
