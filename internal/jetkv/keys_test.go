package jetkv

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzKeys: every key of at most MaxKeyBytes encodes to a valid NATS KV
// key (no wildcard, no empty token) that decodes back to it; decodeKey
// takes any string without panicking.
func FuzzKeys(f *testing.F) {
	for _, s := range []string{"", "alice", "*", ">", "a.b", "a b", "\xff", "日本", strings.Repeat("x", MaxKeyBytes)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		decodeKey(key) // hostile: must not panic
		enc, err := encodeKey(key)
		if len(key) > MaxKeyBytes {
			if err == nil {
				t.Fatalf("encoded a key of %d bytes", len(key))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(enc) || strings.Trim(enc, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			t.Fatalf("encodeKey(%q) = %q: not a plain NATS key", key, enc)
		}
		if got, ok := decodeKey(enc); !ok || got != key {
			t.Fatalf("decodeKey(encodeKey(%q)) = %q, %v", key, got, ok)
		}
	})
}
