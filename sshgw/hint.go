package sshgw

import (
	"net"
	"strconv"
	"strings"

	"chatd/room"
)

// connectHint is the command that opens the chat, for a session that did
// not: "ssh -t -p PORT NICK@HOST", with the user name the client signed in
// with and the host it most likely typed (see hintHost). Everything in it
// comes from a fixed set of characters that a shell takes literally, so it
// is safe to paste whatever user name an attacker chose.
func connectHint(user string, local net.Addr, names []string) string {
	port := ""
	if tcp, ok := local.(*net.TCPAddr); ok && tcp.Port != 22 {
		port = " -p " + strconv.Itoa(tcp.Port)
	}
	return "ssh -t" + port + " " + loginArgs(user, hintHost(local, names))
}

// loginArgs is the user and host part of connectHint. A user name that is
// a valid nickname is used as it is (nicknames are letters, digits, _ and
// -). Any other user name, which the room would refuse anyway, becomes the
// placeholder NICK: it is never echoed. So does a nickname that starts
// with "-", which OpenSSH refuses as a remote user name however it is
// written.
func loginArgs(user, host string) string {
	if room.ValidateNick(user) != nil || strings.HasPrefix(user, "-") {
		return "NICK@" + host
	}
	return user + "@" + host
}

// hintHost is the host to name in a hint. SSH does not carry the name the
// client typed, so this is the best guess the server can make:
// "localhost" for a client that came over loopback (the name the README
// and the start-up banner use); else the first DNS name among names (the
// server's public names, chatd's --host), which is what people are told
// to type; else the address the client reached; and "HOST" if none of
// these is known.
func hintHost(local net.Addr, names []string) string {
	tcp, _ := local.(*net.TCPAddr)
	if tcp != nil && tcp.IP.IsLoopback() {
		return "localhost"
	}
	for _, name := range names {
		if isPublicDNSName(name) {
			return name
		}
	}
	if tcp != nil && tcp.IP.To16() != nil && !tcp.IP.IsUnspecified() {
		return tcp.IP.String() // no zone: it names an interface of the server's
	}
	return "HOST"
}

// maxHostNameBytes is the longest DNS name (RFC 1035).
const maxHostNameBytes = 253

// isPublicDNSName reports whether name is a DNS name a remote client could
// type: labels of letters, digits and inner hyphens, not an IP address,
// not a wildcard, not localhost.
func isPublicDNSName(name string) bool {
	if name == "" || len(name) > maxHostNameBytes || net.ParseIP(name) != nil || strings.EqualFold(name, "localhost") {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(name, "."), ".") {
		if !isHostLabel(label) {
			return false
		}
	}
	return true
}

// isHostLabel reports whether label is one label of a host name: 1 to 63
// letters, digits and hyphens, neither first nor last a hyphen.
func isHostLabel(label string) bool {
	if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
		return false
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
