package jetkv

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// MaxKeyBytes bounds a key, before it is encoded.
const MaxKeyBytes = 1 << 10

// keyMark starts every encoded key, so that the empty key is a valid
// NATS key too, and so that a key not written by jetkv is told apart.
const keyMark = "k"

var errKeyTooLong = errors.New("key too long")

// encodeKey turns any string of at most MaxKeyBytes into a NATS KV key:
// keyMark and the key in unpadded base64url, which holds only
// [-_a-zA-Z0-9], so no key is a wildcard or has an empty token.
func encodeKey(key string) (string, error) {
	if len(key) > MaxKeyBytes {
		return "", fmt.Errorf("%w: %d bytes (at most %d)", errKeyTooLong, len(key), MaxKeyBytes)
	}
	return keyMark + base64.RawURLEncoding.EncodeToString([]byte(key)), nil
}

// decodeKey is encodeKey reversed; ok is false for a key jetkv did not
// write (another writer's, hostile): the caller skips it.
func decodeKey(enc string) (string, bool) {
	rest, ok := strings.CutPrefix(enc, keyMark)
	if !ok || len(rest) > base64.RawURLEncoding.EncodedLen(MaxKeyBytes) {
		return "", false
	}
	key, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil {
		return "", false
	}
	return string(key), true
}
