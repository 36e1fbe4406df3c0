package access

import (
	"errors"
	"strings"
	"testing"
	"time"

	"chatd/room"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   time.Duration
		ok     bool
		errant bool
	}{
		{"30m", 30 * time.Minute, true, false},
		{"2h", 2 * time.Hour, true, false},
		{"7d", 7 * 24 * time.Hour, true, false},
		{"1h30m", 90 * time.Minute, true, false},
		{"365d", MaxDuration, true, false},
		{"366d", 0, true, true},
		{"9000h", 0, true, true},
		{"0m", 0, true, true},
		{"1d12h", 36 * time.Hour, true, false},
		{"+1h", time.Hour, true, false},
		{"1s", time.Second, true, false},
		{"-5m", 0, true, true},
		{"-1h", 0, true, true},
		{"2w", 0, true, true},
		{"90min", 0, true, true},
		{"1y", 0, true, true},
		{"0s", 0, true, true},
		{"1.5d", 0, true, true},
		{"1week", 0, true, true},
		{"1h30", 0, true, true},
		{"364d25h", 0, true, true},
		{"spam", 0, false, false},
		{"-", 0, false, false},
		{"-spam", 0, false, false},
		{"", 0, false, false},
		{"5", 0, true, true},
		{"99999999999999999d", 0, true, true},
		{"99999999999999999999h", 0, true, true},
		{"99999999999h", 0, true, true},
		{"1.5.5h", 0, true, true},
		{"2nd", 0, true, true},
	} {
		got, ok, err := parseDuration(tc.in)
		if got != tc.want || ok != tc.ok || (err != nil) != tc.errant || err != nil && !errors.Is(err, room.ErrUsage) {
			t.Errorf("parseDuration(%q) = %v, %v, %v", tc.in, got, ok, err)
		}
		if err != nil && !strings.HasSuffix(err.Error(), ": "+tc.in+" is not a duration (1s to 365d, like 30m, 2h, 7d)") {
			t.Errorf("parseDuration(%q) = %v, %v, %v", tc.in, got, ok, err)
		}
	}
	for d, want := range map[time.Duration]string{10 * time.Minute: "10m", 2 * time.Hour: "2h", 48 * time.Hour: "2d", 90 * time.Minute: "1h30m", 45 * time.Second: "45s"} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestParseIP(t *testing.T) {
	for in, want := range map[string]string{
		"ip=192.0.2.7":            "192.0.2.7/32",
		"ip=192.0.2.7/24":         "192.0.2.0/24",
		"ip=2001:db8:1:2:3::4":    "2001:db8:1:2::/64",
		"ip=2001:db8::/32":        "2001:db8::/32",
		"ip=::ffff:192.0.2.7":     "192.0.2.7/32",
		"ip=::ffff:192.0.2.0/120": "192.0.2.0/24",
	} {
		p, ok, err := parseIP(in)
		if !ok || err != nil || p.String() != want {
			t.Errorf("parseIP(%q) = %v, %v, %v; want %s", in, p, ok, err, want)
		}
	}
	for _, in := range []string{"ip=10.0.0.0/15", "ip=2001::/16", "ip=::/0", "ip=fe80::1%eth0", "ip=", "ip=300.1.1.1"} {
		if _, ok, err := parseIP(in); !ok || err == nil {
			t.Errorf("parseIP(%q) accepted", in)
		}
	}
	if _, ok, _ := parseIP("mallory"); ok {
		t.Error("a nick read as ip=")
	}
}
