package room

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestSkeletonMakesLookAlikesEqual(t *testing.T) {
	for _, class := range [][]string{
		{"alice", "aIice", "a1ice", "alIce", "ALICE", "aLiCe", "AlIcE"},
		{"l", "I", "i", "L", "1"},
		{"0", "O", "o"},
		{"m", "rn", "RN", "rN", "Rn", "M"},
		{"mallory", "rnallory", "MALL0RY", "rna11ory", "rnaIIory"},
		{"bob0", "bobO", "BOBo"},
		{"x-y_z", "X-Y_Z"},
	} {
		want := skeleton(class[0])
		for _, nick := range class[1:] {
			if got := skeleton(nick); got != want {
				t.Errorf("skeleton(%q) = %q, skeleton(%q) = %q: want them equal", nick, got, class[0], want)
			}
		}
	}
}

func TestSkeletonKeepsDifferentNicksApart(t *testing.T) {
	for _, pair := range [][2]string{
		{"alice", "bob"}, {"a", "b"}, {"_", "-"}, {"x-y", "x_y"}, {"rn", "rm"},
		{"n", "m"}, {"nn", "m"}, {"c", "d"}, {"v", "w"}, {"2", "z"}, {"5", "s"},
		{"alice", "alice_"}, {"bob", "b0bb"},
		// Not in the confusables data, and merging them with I≡l would make
		// luci and lud one nickname.
		{"d", "cl"}, {"luci", "lud"}, {"w", "vv"},
	} {
		if skeleton(pair[0]) == skeleton(pair[1]) {
			t.Errorf("%q and %q have the same skeleton %q", pair[0], pair[1], skeleton(pair[0]))
		}
	}
}

// TestSkeletonIsClosedUnderCaseAndConfusables checks the skeleton against
// the relations it stands for, over every character a nickname may hold:
// a character and its other case are one, each confusables entry is one
// with its target, and the skeleton of a nickname is the skeletons of its
// characters in a row (so any number of substitutions, anywhere, keep it).
func TestSkeletonIsClosedUnderCaseAndConfusables(t *testing.T) {
	confusables := map[string]string{"0": "O", "1": "l", "I": "l", "m": "rn"}
	var chars []string
	for c := 0; c < 128; c++ {
		if IsNickByte(byte(c)) {
			chars = append(chars, string(rune(c)))
		}
	}
	for _, c := range chars {
		if skeleton(c) != skeleton(strings.ToUpper(c)) || skeleton(c) != skeleton(strings.ToLower(c)) {
			t.Errorf("%q: its cases have different skeletons", c)
		}
		for _, d := range chars {
			if skeleton(c+d) != skeleton(c)+skeleton(d) {
				t.Errorf("skeleton(%q) is not skeleton(%q)+skeleton(%q)", c+d, c, d)
			}
		}
	}
	for from, to := range confusables {
		for _, variant := range []string{to, strings.ToUpper(to), strings.ToLower(to)} {
			if skeleton(from) != skeleton(variant) {
				t.Errorf("skeleton(%q) = %q, skeleton(%q) = %q: confusables.txt says they look alike", from, skeleton(from), variant, skeleton(variant))
			}
		}
	}
	// A skeleton is a nickname's own skeleton: mapping again changes
	// nothing, so skeletons can be compared and stored as keys.
	for _, c := range chars {
		if s := skeleton(c); skeleton(s) != s {
			t.Errorf("skeleton(skeleton(%q)) = %q, want %q", c, skeleton(s), s)
		}
	}
}

func TestLookAlikeNicksAreOneNick(t *testing.T) {
	r := newTestRoom(t, Config{})
	alice := mustJoin(t, r, "alice")
	mustJoin(t, r, "m")
	mustJoin(t, r, "O")
	for _, nick := range []string{"aIice", "a1ice", "alIce", "ALICE", "rn", "RN", "0", "o"} {
		if _, err := r.Join(nick, JoinOptions{}); !errors.Is(err, ErrNickTaken) {
			t.Errorf("Join(%q) = %v, want ErrNickTaken", nick, err)
		}
	}
	if got := r.Members(); !slices.Equal(got, []string{"alice", "m", "O"}) {
		t.Errorf("Members() = %q after refused look-alikes", got)
	}

	bob := mustJoin(t, r, "bob")
	drain(bob)
	drain(alice)
	bob.Send("/nick a1ice")
	assertEvents(t, bob, `error nickname taken: "a1ice" is already in use, choose another`)

	// /msg goes by the same key: there is only one member it can mean, and
	// the confirmation names her as she is.
	bob.Send("/msg aIice hello")
	assertEvents(t, alice, "private bob alice hello")
	assertEvents(t, bob, "private-sent bob alice hello")

	// Once alice is gone, a look-alike is free.
	alice.Leave(Reason{Kind: ReasonQuit})
	if _, err := r.Join("aIice", JoinOptions{}); err != nil {
		t.Errorf("Join(aIice) after alice left: %v", err)
	}
}

func TestMembersStaySortedIgnoringCase(t *testing.T) {
	r := newTestRoom(t, Config{})
	for _, nick := range []string{"mallory", "Dave", "bob", "ivan", "walter", "olga", "alice"} {
		mustJoin(t, r, nick)
	}
	want := []string{"alice", "bob", "Dave", "ivan", "mallory", "olga", "walter"}
	if got := r.Members(); !slices.Equal(got, want) {
		t.Errorf("Members() = %q, want %q", got, want)
	}
}
