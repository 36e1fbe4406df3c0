package jetlog

import (
	"bytes"
	"testing"
)

// FuzzDecode: decoding a stored record never panics, and whatever it
// accepts encodes again to a record that decodes to the same event.
func FuzzDecode(f *testing.F) {
	for _, h := range hostile {
		f.Add(h)
	}
	f.Add([]byte(`{"v":1,"kind":"chat","time":"2026-12-01T00:00:00Z","from":"alice","text":"hello \"you\" \\ é"}`))
	f.Add([]byte(`{"v":1,"kind":"leave","time":"2026-12-01T00:00:00Z","from":"bob","reason":{"kind":1,"detail":"bye"}}`))
	f.Add([]byte(`{"v":1,"kind":"presence","time":"2026-12-01T00:00:00Z","count":3,"joined":2,"left":1}`))
	f.Add([]byte(`{"v":1,"kind":"nick","time":"2026-12-01T00:00:00+02:00","from":"bob","to":"robert"}`))
	maxRecord := maxRecordBytes(DefaultMaxText)
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := decode(data, 1, DefaultMaxText, maxRecord)
		if err != nil {
			return
		}
		again, err := encode(ev, DefaultMaxText)
		if err != nil {
			t.Fatalf("decoded %q, encode refuses it: %v", data, err)
		}
		if len(again) > maxRecord {
			t.Fatalf("record of %d bytes, over %d", len(again), maxRecord)
		}
		ev2, err := decode(again, 1, DefaultMaxText, maxRecord)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", again, err)
		}
		if again2, _ := encode(ev2, DefaultMaxText); !bytes.Equal(again, again2) || !ev.Time.Equal(ev2.Time) {
			t.Fatalf("not stable: %q then %q", again, again2)
		}
	})
}
