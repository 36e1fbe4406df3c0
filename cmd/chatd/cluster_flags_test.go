package main

import (
	"strings"
	"testing"
)

// TestClusterFlags checks the cluster flags together with the store's:
// each wrong combination is refused with words that name the flag.
func TestClusterFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the error; "" for none
	}{
		{[]string{"--node", "a"}, "--node needs --nats"},
		{[]string{"--node", "a b", "--nats", "nats://127.0.0.1:4222"}, "--node"},
		{[]string{"--node", strings.Repeat("n", 33), "--nats", "nats://127.0.0.1:4222"}, "--node"},
		{[]string{"--nats-replicas", "3"}, "--nats-replicas needs --nats"},
		{[]string{"--nats-replicas", "0", "--nats", "nats://127.0.0.1:4222"}, "--nats-replicas 0"},
		{[]string{"--nats-replicas", "7", "--nats", "nats://127.0.0.1:4222"}, "--nats-replicas 7"},
		{[]string{"--nats-cert", "c.pem", "--nats", "nats://127.0.0.1:4222"}, "go together"},
		{[]string{"--nats-cert", "c.pem", "--nats-key", "k.pem"}, "need --nats"},
		{[]string{"--node", "a", "--nats", "nats://127.0.0.1:4222", "--cluster-heartbeat", "10ms"}, "--cluster-heartbeat"},
		{[]string{"--node", "a", "--nats", "nats://127.0.0.1:4222", "--cluster-heartbeat", "5s", "--cluster-dead-after", "6s"}, "--cluster-dead-after"},
		{[]string{"--node", "node-1_B", "--nats", "nats://a:4222,nats://b:4222,nats://c:4222", "--nats-replicas", "3"}, ""},
	} {
		var cfg config
		if err := parseFlags(newServeFlags(&cfg, nil), tc.args, nil); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		err := cfg.validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q refused: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: got %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

// TestUnauthenticatedNATSIsWarnedOf: a node is warned at start when it
// meets the others on NATS with no credentials of its own, and only then.
func TestUnauthenticatedNATSIsWarnedOf(t *testing.T) {
	for _, tc := range []struct {
		s    storeConfig
		open bool
	}{
		{storeConfig{natsURL: "nats://a:4222,nats://b:4222"}, true},
		{storeConfig{natsURL: "nats://a:4222", natsCreds: "chatd.creds"}, false},
		{storeConfig{natsURL: "nats://a:4222", natsCert: "c.pem", natsKey: "k.pem"}, false},
		{storeConfig{natsURL: "nats://a:4222, nats://chatd:secret@b:4222"}, false},
		{storeConfig{natsURL: "nats://token@a:4222"}, false},
	} {
		if got := unauthenticatedNATS(tc.s); got != tc.open {
			t.Errorf("%+v: unauthenticated %v, want %v", tc.s, got, tc.open)
		}
	}
	p := openNATSPart(storeConfig{natsURL: "nats://a:4222"})
	if !strings.HasPrefix(p.text, "WARNING: ") || !strings.Contains(p.text, "--nats-creds") {
		t.Errorf("the warning: %q", p.text)
	}
}
