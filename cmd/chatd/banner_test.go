package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestOpenSSLCommandSendsSNIForNamesOnly(t *testing.T) {
	for _, tc := range []struct{ host, ca, want string }{
		{"chat.example.com", "", "openssl s_client -quiet -verify_return_error -verify_hostname chat.example.com -servername chat.example.com -connect chat.example.com:7443"},
		{"203.0.113.10", "/d/cert.pem", "openssl s_client -quiet -verify_return_error -verify_ip 203.0.113.10 -noservername -connect 203.0.113.10:7443 -CAfile /d/cert.pem"},
		{"::1", "", "openssl s_client -quiet -verify_return_error -verify_ip ::1 -noservername -connect [::1]:7443"},
		{"localhost", "/home/a b/it's.pem", `openssl s_client -quiet -verify_return_error -verify_hostname localhost -servername localhost -connect localhost:7443 -CAfile '/home/a b/it'\''s.pem'`},
	} {
		if got := opensslCommand(tc.host, "7443", tc.ca); got != tc.want {
			t.Errorf("opensslCommand(%q, %q):\n got %s\nwant %s", tc.host, tc.ca, got, tc.want)
		}
	}
}

func TestDurationsAreLoggedInSecondsInBothFormats(t *testing.T) {
	for format, want := range map[string]string{"text": "duration_seconds=1.5 backoff_seconds=0.005", "json": `"duration_seconds":1.5,"backoff_seconds":0.005`} {
		var out bytes.Buffer
		newLogger(format, &out).Info("closed", "duration", 1500*time.Millisecond, "backoff", 5*time.Millisecond)
		if !strings.Contains(out.String(), want) {
			t.Errorf("%s: %s, want %s", format, out.String(), want)
		}
	}
	var out bytes.Buffer
	newLogger("json", &out).Info("nested", "conn", map[string]any{"n": 1}, "age", time.Minute)
	var rec map[string]any
	if err := json.Unmarshal(out.Bytes(), &rec); err != nil || rec["age_seconds"] != 60.0 {
		t.Errorf("record %s: %v", out.String(), err)
	}
}
