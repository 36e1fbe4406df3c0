package main

import (
	"reflect"
	"testing"
)

func findAll(text, run string) []payload {
	var out []payload
	b := []byte(text)
	for {
		p, rest, ok := nextPayload(b, payloadMarker(run))
		if !ok {
			return out
		}
		out = append(out, p)
		b = rest
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	p := payload{from: 17, seq: 42, sent: 1764300000123456789}
	text := string(appendPayload(nil, "RUN1", p))
	if text != "bench:RUN1:17:42:1764300000123456789" {
		t.Fatalf("payload text %q", text)
	}
	if got := findAll(text, "RUN1"); !reflect.DeepEqual(got, []payload{p}) {
		t.Fatalf("parsed %+v, want %+v", got, p)
	}
}

func TestPayloadFoundInServerLines(t *testing.T) {
	p := payload{from: 3, seq: 9, sent: 1764300000000000001}
	text := string(appendPayload(nil, "ABC", p))
	for _, tc := range []struct {
		name, line string
		want       []payload
	}{
		{"chatd chat line", "[09:14:10] <bench003> " + text, []payload{p}},
		{"chatd line with padding", "[09:14:10] <bench003> " + text + " xxxxxxxx", []payload{p}},
		{"chatd action", "[09:14:10] * bench003 " + text, []payload{p}},
		{"ncat line", "<user5> " + text, []payload{p}},
		{"ncat line with CR", "<user5> " + text + "\r", []payload{p}},
		{"two in one line (ncat per-read prefix)", "<user5> " + text + "\n" + text, []payload{p, p}},
		{"a TUI row", "│ 09:14 bench003  " + text + "          │", []payload{p}},

		{"chatd join", "[09:14:02] *** bench003 joined", nil},
		{"chatd member list", "[09:14:02] *** 2 members: bench000, bench003", nil},
		{"chatd greeting", "*** Welcome to chatd. You are connected with TLS 1.3", nil},
		{"ncat announcement", "<announce> 127.0.0.1 is connected as <user5>.", nil},
		{"another run's payload", "<user5> bench:OTHER:3:9:1764300000000000001", nil},
		{"marker without numbers", "<user5> bench:ABC:", nil},
		{"cut short: two fields", "<user5> bench:ABC:3:9", nil},
		{"cut short: trailing colon", "<user5> bench:ABC:3:9:", nil},
		{"running into letters", "<user5> bench:ABC:3:9:17643000x", nil},
		{"negative sender", "<user5> bench:ABC:-3:9:1764300000000000001", nil},
		{"number too large", "<user5> bench:ABC:3:9:99999999999999999999999", nil},
		{"sender out of range", "<user5> bench:ABC:99999999:9:1764300000000000001", nil},
		{"malformed then good", "<user5> bench:ABC:x " + text, []payload{p}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := findAll(tc.line, "ABC"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("found %+v in %q, want %+v", got, tc.line, tc.want)
			}
		})
	}
}

func TestAppendPad(t *testing.T) {
	if got := string(appendPad([]byte("ab"), 5)); got != "ab xxxx" {
		t.Errorf("appendPad = %q", got)
	}
	if got := string(appendPad([]byte("ab"), 0)); got != "ab" {
		t.Errorf("appendPad with 0 = %q", got)
	}
}

func TestScreenHas(t *testing.T) {
	screen := "*** bench11 joined\n*** xbench1 joined\n"
	if screenHas(screen, "bench1 joined") {
		t.Error("found bench1 in bench11's or xbench1's join")
	}
	if !screenHas(screen+"│*** bench1 joined", "bench1 joined") {
		t.Error("did not find bench1's join")
	}
	if !screenHas("bench1 joined", "bench1 joined") {
		t.Error("did not find a join at the start of the screen")
	}
}

func TestServerError(t *testing.T) {
	for line, want := range map[string]string{
		"!!! disconnected: you were not reading fast enough (slow consumer)": "!!! disconnected: you were not reading fast enough (slow consumer)",
		"[09:14:31] !!! slow down: you may send 10 lines at once":            "!!! slow down: you may send 10 lines at once",
		"[09:14:31] <bob> !!! not an error":                                  "",
		"<user5> !!! not an error":                                           "",
		"*** Goodbye.":                                                       "",
	} {
		text, ok := serverError([]byte(line))
		if ok != (want != "") || ok && string(text) != want {
			t.Errorf("serverError(%q) = %q, %v; want %q", line, text, ok, want)
		}
	}
}
