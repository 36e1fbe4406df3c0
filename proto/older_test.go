package proto

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"chatd/room"
)

// TestParseOlderRefusesHostileRequests: an older-page request is "/older
// SEQ N" with N at most room.MaxPage, and nothing else.
func TestParseOlderRefusesHostileRequests(t *testing.T) {
	good := map[string]OlderRequest{
		"/older 10 5":                     {Before: 10, N: 5},
		"/OLDER 18446744073709551615 100": {Before: math.MaxUint64, N: room.MaxPage},
		"  /older  0001   1 ":             {Before: 1, N: 1},
		"/older 0 50":                     {Before: 0, N: 50},
	}
	for line, want := range good {
		if got, err := ParseOlder(line); err != nil || got != want {
			t.Errorf("ParseOlder(%q) = %+v, %v; want %+v", line, got, err, want)
		}
	}
	for _, line := range []string{
		"/older", "/older 10", "/older 10 0", "/older 10 -1", "/older 10 101", "/older 10 1000000000000",
		"/older -1 5", "/older 18446744073709551616 5", "/older 10 5 6", "/older x 5", "/older 10 0x10",
		"/older 10 +5", "/older 1.5 5", "/olderx 1 1", "/older 10 0005", "/older ١ 5",
		"/older " + strings.Repeat("9", 10000) + " 5",
	} {
		if r, err := ParseOlder(line); !errors.Is(err, ErrBadOlder) {
			t.Errorf("ParseOlder(%q) = %+v, %v; want an ErrBadOlder", line, r, err)
		}
	}
	if !IsOlder("/Older junk") || IsOlder("/olders 1") || IsOlder("older 1 1") {
		t.Error("IsOlder does not recognise the first word alone")
	}
	req := OlderRequest{Before: 42, N: 7}
	if line := string(AppendOlder(nil, req)); line != "/older 42 7\n" {
		t.Errorf("AppendOlder = %q", line)
	}
	if got, err := ParseOlder(string(AppendOlder(nil, req))); err != nil || got != req {
		t.Errorf("round trip: %+v, %v", got, err)
	}
}

// TestOlderFrameRoundTrip: the answer's header and end survive the codec,
// and nothing else reads as them.
func TestOlderFrameRoundTrip(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, r := range []OlderReply{
		{Before: 42, Status: OlderPage, Count: 0},
		{Before: 42, Status: OlderPage, Count: room.MaxPage},
		{Before: math.MaxUint64, Status: OlderBusy},
		{Before: 7, Status: OlderUnavailable},
	} {
		ev := ParseLine(strings.TrimSuffix(string(AppendEvent(nil, OlderHeader(r))), "\n"), now)
		if got, ok := ParseOlderHeader(ev); !ok || got != r {
			t.Errorf("header %+v came back as %+v, %v", r, got, ok)
		}
	}
	end := ParseLine(strings.TrimSuffix(string(AppendEvent(nil, OlderEnd())), "\n"), now)
	if !IsOlderEnd(end) {
		t.Errorf("the end line %+v is not recognised", end)
	}
	for _, line := range []string{
		"*** older before 42: 101", "*** older before 42: -1", "*** older before 42: lots",
		"*** older before x: 1", "*** older before 42 1", "<alice> older before 42: 1", "*** older before 42: 0001",
	} {
		if r, ok := ParseOlderHeader(ParseLine(line, now)); ok {
			t.Errorf("%q read as a header %+v", line, r)
		}
	}
	if IsOlderEnd(ParseLine("<mallory> older end", now)) {
		t.Error("a chat line reads as the end of a page")
	}
}
