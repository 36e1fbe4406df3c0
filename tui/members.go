package tui

import (
	"chatd/room"
	"iter"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// maxListed caps the names a screen keeps, whatever its server announces:
// beyond it, members are counted, not named. The panel shows a screenful of
// names and "+N more"; a room's member list names DefaultMembersListed
// (100), so only one-by-one joins in a room of over 10,000 come near it.
const maxListed = 10_000

// members is the member list the screen keeps from events: a Members event
// replaces it and live Join, Leave and NickChange events update it. It
// names the members in case-insensitive order, like the room's own lists,
// in a tree, so a join or leave costs O(log n) however many there are. In
// a big room the Members event names only some of the members and joins
// and leaves come as Presence summaries; past maxListed names the list
// keeps the first ones in order. The list is then partial, and total is
// kept from the counts.
type members struct {
	names nickTree
	total int // members in the room; at least names.len()
}

// set replaces the list: nicks, of count members in all (0 when nicks are
// all of them).
func (m *members) set(nicks []string, count int) {
	sorted := slices.Clone(nicks)
	slices.SortFunc(sorted, room.CompareNicks)
	sorted = slices.CompactFunc(sorted, strings.EqualFold)
	m.names = nickTree{}
	for _, nick := range sorted[:min(len(sorted), maxListed)] {
		m.names.insert(nick)
	}
	m.total = max(count, len(sorted))
}

// setCount sets how many members there are, from a Presence summary.
func (m *members) setCount(count int) { m.total = max(count, m.names.len()) }

// add lists nick unless it is already listed. Past maxListed names, the
// last in order is no longer named, only counted.
func (m *members) add(nick string) {
	if !m.names.insert(nick) {
		return
	}
	m.total++
	if m.names.len() > maxListed {
		m.names.deleteLast()
	}
}

// remove takes nick out of the list, or out of the count of the members
// not listed.
func (m *members) remove(nick string) {
	if !m.names.delete(nick) && m.total <= m.names.len() {
		return // not a member
	}
	m.total--
}

// rename replaces from with to, if from is listed.
func (m *members) rename(from, to string) {
	if !m.names.delete(from) {
		return // one of the members not listed
	}
	m.names.insert(to)
}

// len returns how many members there are, listed or not.
func (m *members) len() int { return m.total }

// first returns up to n names, the first in order.
func (m *members) first(n int) []string {
	names := make([]string, 0, min(n, m.names.len()))
	for nick := range m.names.all() {
		if len(names) == n {
			break
		}
		names = append(names, nick)
	}
	return names
}

// panelWidth is the member panel's width for a screen width columns wide,
// the gap and separator on its left included, or 0 when the screen is too
// narrow to show it. It depends only on the screen width, so that people
// joining never change the width messages are wrapped to.
func panelWidth(width int) int {
	if width < minWidthForPanel {
		return 0
	}
	return 2 + min(max(width/5, 14), 24)
}

// minWidthForPanel is the narrowest screen that shows the member list.
const minWidthForPanel = 60

// view draws the panel: height rows, each exactly width columns including
// the gap and separator on the left. self is marked.
func (m *members) view(width, height int, self string, st *styles) []string {
	rows := make([]string, height)
	inner := width - 3 // gap, separator and a space
	sep := " " + st.panel.Render("│") + " "
	pad := func(s string, w int) string { return s + strings.Repeat(" ", max(0, inner-w)) }
	if height == 0 || inner <= 0 {
		return rows
	}
	title := ansi.Truncate("members ("+strconv.Itoa(m.total)+")", inner, "…")
	rows[0] = sep + pad(st.panelHdr.Render(title), ansi.StringWidth(title))
	slots := height - 1
	if m.total > slots {
		slots = max(0, height-2) // the last row says how many more
	}
	shown := m.first(slots)
	more := m.total - len(shown)
	for i := 1; i < height; i++ {
		switch j := i - 1; {
		case j < len(shown):
			nick := ansi.Truncate(shown[j], inner-2, "…")
			mark := "  "
			if strings.EqualFold(shown[j], self) {
				mark = "• "
			}
			rows[i] = sep + pad(mark+nickStyle(shown[j]).Render(nick), 2+ansi.StringWidth(nick))
		case j == len(shown) && more > 0:
			text := ansi.Truncate("+"+strconv.Itoa(more)+" more", inner, "…")
			rows[i] = sep + pad(st.system.Render(text), ansi.StringWidth(text))
		default:
			rows[i] = sep + pad("", 0)
		}
	}
	return rows
}

// nickTree is a set of nicknames, unique ignoring case, in case-insensitive
// order: a treap, a binary search tree kept balanced (with high
// probability) by random priorities, so that inserting, finding and
// deleting cost O(log n). The priorities are the client's own, so no order
// of names a server chooses can unbalance it.
type nickTree struct {
	root *nickNode
	size int
}

type nickNode struct {
	key         string // the nickname in lower case: its place and identity
	nick        string
	priority    uint64 // parents outrank children: what keeps the tree balanced
	left, right *nickNode
}

func (t *nickTree) len() int { return t.size }

// insert adds nick unless the tree holds it already, ignoring case; it
// reports whether it did.
func (t *nickTree) insert(nick string) bool {
	key := strings.ToLower(nick)
	if t.find(key) != nil {
		return false
	}
	t.root = insertNode(t.root, &nickNode{key: key, nick: nick, priority: rand.Uint64()})
	t.size++
	return true
}

// delete removes nick, ignoring case; it reports whether the tree held it.
func (t *nickTree) delete(nick string) bool {
	var found bool
	t.root, found = deleteKey(t.root, strings.ToLower(nick))
	if found {
		t.size--
	}
	return found
}

// deleteLast removes the last nickname in order, if any.
func (t *nickTree) deleteLast() {
	link := &t.root
	for *link != nil && (*link).right != nil {
		link = &(*link).right
	}
	if *link != nil {
		*link = (*link).left // it outranks its children, so they can take its place
		t.size--
	}
}

func (t *nickTree) find(key string) *nickNode {
	n := t.root
	for n != nil && n.key != key {
		if key < n.key {
			n = n.left
		} else {
			n = n.right
		}
	}
	return n
}

// all yields the nicknames in order.
func (t *nickTree) all() iter.Seq[string] {
	return func(yield func(string) bool) { ascend(t.root, yield) }
}

// ascend calls yield for each nickname under n in order, until it returns
// false; it reports whether it never did.
func ascend(n *nickNode, yield func(string) bool) bool {
	return n == nil || ascend(n.left, yield) && yield(n.nick) && ascend(n.right, yield)
}

// insertNode puts node, whose key is not in the tree under n, in its
// place: below the nodes that outrank it, and above the others, which it
// splits between its two sides.
func insertNode(n, node *nickNode) *nickNode {
	if n == nil {
		return node
	}
	if node.priority > n.priority {
		node.left, node.right = split(n, node.key)
		return node
	}
	if node.key < n.key {
		n.left = insertNode(n.left, node)
	} else {
		n.right = insertNode(n.right, node)
	}
	return n
}

// deleteKey removes the node with key from the tree under n, joining its
// two sides in its place; it returns the tree's new root.
func deleteKey(n *nickNode, key string) (root *nickNode, found bool) {
	switch {
	case n == nil:
		return nil, false
	case key < n.key:
		n.left, found = deleteKey(n.left, key)
	case key > n.key:
		n.right, found = deleteKey(n.right, key)
	default:
		return merge(n.left, n.right), true
	}
	return n, found
}

// split divides the tree under n into the keys before key and the others.
func split(n *nickNode, key string) (before, rest *nickNode) {
	if n == nil {
		return nil, nil
	}
	if n.key < key {
		n.right, rest = split(n.right, key)
		return n, rest
	}
	before, n.left = split(n.left, key)
	return before, n
}

// merge joins two trees, every key of a before every key of b.
func merge(a, b *nickNode) *nickNode {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.priority > b.priority:
		a.right = merge(a.right, b)
		return a
	default:
		b.left = merge(a, b.left)
		return b
	}
}
