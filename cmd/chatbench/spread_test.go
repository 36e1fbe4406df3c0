package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestClientsGoToTheServersInTurn: client i connects to the (i mod N)th
// address of --addr, whatever the spaces and empty items around them.
func TestClientsGoToTheServersInTurn(t *testing.T) {
	cfg := defaultConfig()
	cfg.addr, cfg.clients = " a:1, b:2,,c:3 ", 7
	b := newBench(&cfg)
	want := []string{"a:1", "b:2", "c:3", "a:1", "b:2", "c:3", "a:1"}
	for i, m := range b.members {
		if m.addr != want[i] || m.target != i%3 {
			t.Errorf("client %d: server %q (#%d), want %q (#%d)", i, m.addr, m.target, want[i], i%3)
		}
	}
	if len(b.byTgt) != 3 {
		t.Errorf("%d latency histograms by server, want 3", len(b.byTgt))
	}
	one := defaultConfig()
	one.addr = "a:1"
	if b := newBench(&one); b.byTgt != nil || b.members[0].addr != "a:1" {
		t.Errorf("one server: histograms %v, address %q", b.byTgt, b.members[0].addr)
	}
}

// TestByTarget: each server's share counts its own clients, and what is
// due to its stable clients from every sender.
func TestByTarget(t *testing.T) {
	cfg := defaultConfig()
	cfg.addr, cfg.clients = "a:1,b:2", 5 // a: 0 2 4, b: 1 3
	b := newBench(&cfg)
	for _, m := range b.members[:4] {
		m.joined.Store(true) // client 4 never joined
	}
	b.members[3].lost.Store(true)
	sent := []int64{10, 20, 30, 5, 0}
	for i, m := range b.members {
		m.sent.Store(sent[i])
	}
	b.members[0].delivered.Store(55) // due 65 − 10
	b.members[2].delivered.Store(35) // due 65 − 30
	b.members[1].delivered.Store(40) // due 65 − 20
	b.members[3].delivered.Store(9)  // lost: not counted
	b.deliver(b.members[1], payload{from: 0, seq: 1}, time.Now())
	got := b.byTarget()
	if len(got) != 2 {
		t.Fatalf("%d shares, want 2", len(got))
	}
	a, bb := got[0], got[1]
	if a.Target != "a:1" || a.Clients != 3 || a.Connected != 2 || a.Lost != 0 || a.Sent != 40 || a.Expected != 55+35 || a.Delivered != 90 || a.DeliveryRatio != 1 {
		t.Errorf("a: %+v", a)
	}
	if bb.Target != "b:2" || bb.Clients != 2 || bb.Connected != 2 || bb.Lost != 1 || bb.Sent != 25 || bb.Expected != 45 || bb.Delivered != 40 {
		t.Errorf("b: %+v", bb)
	}
	expected, delivered := b.tally()
	if a.Expected+bb.Expected != expected || a.Delivered+bb.Delivered != delivered {
		t.Errorf("shares add up to %d/%d, the whole is %d/%d", a.Expected+bb.Expected, a.Delivered+bb.Delivered, expected, delivered)
	}
}

// TestListFlags: --addr, --ssh, --pid, --nats-pid and --nats-monitor take
// comma-separated lists, bounded and checked item by item.
func TestListFlags(t *testing.T) {
	var out bytes.Buffer
	cfg, err := parseArgs([]string{"--addr", "a:1,b:2,c:3", "--pid", "10,11,12", "--nats-pid", "20, 21",
		"--nats-monitor", "http://127.0.0.1:8222,http://127.0.0.1:8223/"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.targets(), " "); got != "a:1 b:2 c:3" {
		t.Errorf("targets %q", got)
	}
	if cfg.pids.String() != "10,11,12" || cfg.natsPIDs.String() != "20,21" {
		t.Errorf("pids %v, NATS pids %v", cfg.pids, cfg.natsPIDs)
	}
	many := strings.Repeat("h:1,", maxTargets+1)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "a:1,nohost"}, "missing port"},
		{[]string{"--addr", ",,"}, "want 1 to"},
		{[]string{"--addr", many}, "want 1 to"},
		{[]string{"--ssh", "a:1,b"}, "missing port"},
		{[]string{"--addr", "a:1", "--pid", "1,x"}, "not a process id"},
		{[]string{"--addr", "a:1", "--pid", "-3"}, "not a process id"},
		{[]string{"--addr", "a:1", "--nats-pid", ""}, "process ids"},
		{[]string{"--addr", "a:1", "--nats-monitor", "127.0.0.1:8222"}, "want http://HOST:PORT"},
		{[]string{"--addr", "a:1", "--nats-monitor", "ftp://x"}, "want http://HOST:PORT"},
	} {
		out.Reset()
		if _, err := parseArgs(tc.args, &out); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestSpreadOverTwoAddressesOfOneChatd spreads the clients over two
// spellings of one chatd's address: everyone is in one room, so every
// client gets every message, and each address's share is reported.
func TestSpreadOverTwoAddressesOfOneChatd(t *testing.T) {
	s, pid := startChatd(t)
	cfg := chatdConfig(s, pid)
	cfg.addr = s.Addr() + ",127.0.0.1:" + s.Port
	cfg.clients, cfg.duration = 6, 1500*time.Millisecond
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkFullDelivery(t, r, 6, 6, 5, 1.5)
	if len(r.Targets) != 2 {
		t.Fatalf("%d shares, want 2: %+v", len(r.Targets), r.Targets)
	}
	var sent, delivered int64
	for i, tg := range r.Targets {
		if tg.Clients != 3 || tg.Connected != 3 || tg.DeliveryRatio != 1 || tg.LatencyP99MS <= 0 {
			t.Errorf("share %d: %+v", i, tg)
		}
		sent += tg.Sent
		delivered += tg.Delivered
	}
	if sent != r.Sent || delivered != r.Delivered {
		t.Errorf("shares sent %d delivered %d, the whole %d %d", sent, delivered, r.Sent, r.Delivered)
	}
	var table bytes.Buffer
	if err := r.writeTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "127.0.0.1:"+s.Port+"  3 clients") {
		t.Errorf("the table lacks the second address's row:\n%s", table.String())
	}
}
