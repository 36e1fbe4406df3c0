package sshgw

import (
	"net"
	"regexp"
	"testing"
)

func TestConnectHintNamesTheCommandThatWorks(t *testing.T) {
	tcp := func(ip string, port int) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: port} }
	public := []string{"203.0.113.7", "*.example.com", "localhost", "chat.example.com", "other.example.com"}
	for _, tc := range []struct {
		name  string
		user  string
		local net.Addr
		hosts []string
		want  string
	}{
		{"loopback is localhost", "alice", tcp("127.0.0.1", 2222), public, "ssh -t -p 2222 alice@localhost"},
		{"IPv6 loopback", "alice", tcp("::1", 2222), nil, "ssh -t -p 2222 alice@localhost"},
		{"IPv4-mapped loopback", "alice", tcp("::ffff:127.0.0.1", 2222), nil, "ssh -t -p 2222 alice@localhost"},
		{"the first public DNS name", "alice", tcp("198.51.100.4", 2222), public, "ssh -t -p 2222 alice@chat.example.com"},
		{"no names: the address reached", "alice", tcp("198.51.100.4", 2222), []string{"203.0.113.7"}, "ssh -t -p 2222 alice@198.51.100.4"},
		{"IPv6 address reached", "alice", tcp("2001:db8::5", 2222), nil, "ssh -t -p 2222 alice@2001:db8::5"},
		{"port 22 is not named", "alice", tcp("198.51.100.4", 22), nil, "ssh -t alice@198.51.100.4"},
		{"unknown address", "alice", nil, nil, "ssh -t alice@HOST"},
		{"a name that is not a host name is skipped", "alice", tcp("198.51.100.4", 2222), []string{"bad name;rm", "-x.example", "ok.example"}, "ssh -t -p 2222 alice@ok.example"},
		{"a user name starting with - (OpenSSH refuses it)", "-x", tcp("127.0.0.1", 2222), nil, "ssh -t -p 2222 NICK@localhost"},
		{"a user name the room refuses", "alice;rm -rf ~", tcp("127.0.0.1", 2222), nil, "ssh -t -p 2222 NICK@localhost"},
		{"quotes", "a'b", tcp("127.0.0.1", 2222), nil, "ssh -t -p 2222 NICK@localhost"},
		{"escape sequences", "\x1b]0;owned\x07", tcp("127.0.0.1", 2222), nil, "ssh -t -p 2222 NICK@localhost"},
		{"an empty user name", "", tcp("127.0.0.1", 2222), nil, "ssh -t -p 2222 NICK@localhost"},
	} {
		if got := connectHint(tc.user, tc.local, tc.hosts); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// safeToPaste is what a hint may consist of: characters that a POSIX shell
// (or fish) takes literally, with the words separated by single spaces.
var safeToPaste = regexp.MustCompile(`^ssh -t( -p [0-9]+)? ([A-Za-z0-9_][A-Za-z0-9_-]*@|NICK@)[A-Za-z0-9.:-]+$`)

// FuzzConnectHintIsSafeToPaste: whatever user name a client signs in with
// and whatever --host names the server has, the hint is one ssh command
// made of characters a shell takes literally.
func FuzzConnectHintIsSafeToPaste(f *testing.F) {
	f.Add("alice", "chat.example.com", []byte{127, 0, 0, 1})
	f.Add("$(reboot)", "evil;name", []byte{198, 51, 100, 4})
	f.Add("-oProxyCommand=sh", "", []byte{32, 1, 13, 184, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5})
	f.Add("`id`", "a\nb", []byte{})
	f.Fuzz(func(t *testing.T, user, host string, ip []byte) {
		local := &net.TCPAddr{IP: net.IP(ip), Port: 2222}
		if got := connectHint(user, local, []string{host}); !safeToPaste.MatchString(got) {
			t.Errorf("user %q, host %q, address %v: hint %q is not safe to paste", user, host, ip, got)
		}
	})
}
