package jetlog

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"chatd/room"
)

// TestPagersDoNotStallTheRoom: on the JetStream log, many members paging
// back through long lines as fast as they are allowed do not delay another
// member's join (whose history is read from the stream) or line beyond a
// bound: the room reads at most room.RoomPageReads pages at once, answers
// the rest busy, and pages read apart from Replay (attack review finding 1).
func TestPagersDoNotStallTheRoom(t *testing.T) {
	l := open(t, t.TempDir(), Options{Recent: -1}) // joins read the stream
	r := room.New(room.Config{Log: l, HistorySize: 20, MaxLineBytes: 2000, FloodBurst: 1000, FloodRate: 1000})
	defer r.Close("")
	bob, err := r.Join("bob", room.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 1900)
	for range 300 {
		if err := bob.Say(long); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	pages, busy := 0, 0
	for i := range 40 {
		m, err := r.Join(fmt.Sprint("pager", i), room.JoinOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for before := uint64(300 - i); ; {
				select {
				case <-stop:
					return
				default:
				}
				_, err := m.Older(before, room.MaxPage)
				mu.Lock()
				if errors.Is(err, room.ErrPageLimit) {
					busy++
				} else if err == nil {
					pages++
				}
				mu.Unlock()
				if err != nil && !errors.Is(err, room.ErrPageLimit) {
					t.Errorf("Older: %v", err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	var slowest time.Duration
	for i := range 10 {
		time.Sleep(50 * time.Millisecond)
		t0 := time.Now()
		m, err := r.Join(fmt.Sprint("joiner", i), room.JoinOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Say("hello"); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(t0))
		m.Leave(room.Reason{})
	}
	close(stop)
	wg.Wait()
	t.Logf("%d pages, %d busy; the slowest join and line took %v", pages, busy, slowest)
	if busy == 0 {
		t.Errorf("no page was refused as busy")
	}
	if slowest > 800*time.Millisecond {
		t.Fatalf("a join and a line took %v while 40 members paged back", slowest)
	}
}
