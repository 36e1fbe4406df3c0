package jetlog

import (
	"net/url"
	"strings"
)

// This file keeps the credentials a server URL may hold (a user and
// password, or a token: nats://user:pass@host, nats://token@host) out of
// everything the log says: its errors, its log records, chatd's banner.

// RedactURLs returns urls, server URLs separated by commas (Options.URL,
// chatd's --nats), with any user, password, token, query and fragment
// left out; a part it cannot parse as a URL with a host is replaced by a
// placeholder, lest it hold a secret.
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, raw := range parts {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Host == "" {
			parts[i] = "(an address that is not a URL)"
			continue
		}
		u.User, u.RawQuery, u.Fragment = nil, "", ""
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// urlSecrets returns the credentials written in urls (as RedactURLs takes
// them): each part's whole user information, its password, or its token
// (a user with no password), as written and unescaped. It reads the text
// itself, so that a URL url.Parse refuses gives up its secrets too.
func urlSecrets(urls string) []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s)
		if u, err := url.PathUnescape(s); err == nil && u != s {
			out = append(out, u)
		}
	}
	for raw := range strings.SplitSeq(urls, ",") {
		raw = strings.TrimSpace(raw)
		if i := strings.Index(raw, "://"); i >= 0 {
			raw = raw[i+3:]
		}
		if i := strings.IndexAny(raw, "/?#"); i >= 0 {
			raw = raw[:i]
		}
		at := strings.LastIndexByte(raw, '@')
		if at < 0 {
			continue
		}
		info := raw[:at]
		add(info)
		if _, pass, ok := strings.Cut(info, ":"); ok {
			add(pass)
		}
	}
	// The longest first, so that a secret within another is not left
	// half replaced.
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if len(out[j]) > len(out[i]) {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// redactedError is an error whose text had credentials taken out; it
// unwraps to the original, so errors.Is and errors.As still see it.
type redactedError struct {
	text string
	err  error
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }

// redactErr returns err with every credential written in urls replaced
// in its text ("REDACTED"); err itself if its text holds none.
func redactErr(err error, urls string) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	changed := false
	for _, s := range urlSecrets(urls) {
		if strings.Contains(text, s) {
			text, changed = strings.ReplaceAll(text, s, "REDACTED"), true
		}
	}
	if !changed {
		return err
	}
	return &redactedError{text: text, err: err}
}
