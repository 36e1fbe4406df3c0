package main

import (
	"strings"
	"testing"
	"time"
)

// TestStorePartSaysWhereAndLimits: the banner's history line names the
// embedded store's directory, the external server without its
// credentials, or that memory forgets, with the limits.
func TestStorePartSaysWhereAndLimits(t *testing.T) {
	keep := storeConfig{kind: storeEmbedded, keep: 500, maxAge: 30 * 24 * time.Hour}
	for _, c := range []struct {
		s          storeConfig
		want, hide []string
	}{
		{keep, []string{"in /data/nats (embedded", "last 500 events, each for 30 days", "shown the last 100"}, nil},
		{storeConfig{kind: storeMemory, keep: 500, maxAge: time.Hour}, []string{"forgotten at restart", "shown the last 100"}, []string{"/data/nats", "500"}},
		{storeConfig{kind: storeEmbedded, natsURL: "nats://chatd:s3cret@nats.example:4222,tls://tok3n@10.0.0.2:4222?x=s3cret", keep: 5, maxAge: 90 * time.Minute},
			[]string{"nats://nats.example:4222,tls://10.0.0.2:4222", "last 5 events, each for 1h30m0s"}, []string{"s3cret", "tok3n", "chatd@", "/data/nats"}},
		{storeConfig{kind: storeEmbedded, natsURL: "s3cret:%zz@host", keep: 5, maxAge: time.Hour}, []string{"not a URL"}, []string{"s3cret"}},
	} {
		p := storePart(c.s, "/data/nats", 100)
		for _, w := range c.want {
			if !strings.Contains(p.text, w) {
				t.Errorf("%+v: %q lacks %q", c.s, p.text, w)
			}
		}
		for _, h := range c.hide {
			if strings.Contains(p.text, h) {
				t.Errorf("%+v: %q shows %q", c.s, p.text, h)
			}
			for _, a := range p.attrs {
				if strings.Contains(a.Value.String(), h) {
					t.Errorf("%+v: attribute %s shows %q", c.s, a, h)
				}
			}
		}
	}
}
