package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"chatd/client"
)

// newFlags declares chat's flags into o. Each is written --name in the
// usage, as chatd's are; the flag package takes -name as well.
func newFlags(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.StringVar(&o.nick, "nick", defaultNick(), "your `NICKNAME`, by default your login name; if the server refuses it, the screen asks for another")
	fs.BoolVar(&o.shuffle, "shuffle", false, "with several servers, try them starting from a random one rather than the first (spreads users over the nodes)")
	fs.BoolVar(&o.plain, "plain", false, "no screen: send the lines of standard input, print the server's lines; never asks anything")
	fs.StringVar(&o.caFile, "ca", "", "trust only this CA or self-signed certificate `FILE` (the server's cert.pem)")
	fs.StringVar(&o.fingerprint, "fingerprint", "", "trust only the certificate with this SHA-256 fingerprint (`HEX`, colons allowed, as chatd prints it)")
	fs.StringVar(&o.knownPath, "known-servers", "", "`FILE` of the servers trusted on first use (default ~/.config/chatd/known_servers)")
	fs.BoolVar(&o.insecure, "insecure", false, "do not verify the server at all (lab MITM exercises only)")
	fs.StringVar(&o.keylog, "keylog", "", "append the session's TLS secrets to `FILE` (NSS key log format, created 0600; default $SSLKEYLOGFILE) so that Wireshark or tshark can decrypt a capture: for labs only; chat warns at start, on the status line and in /tls")
	fs.BoolVar(&o.title, "title", false, "show your nick and the messages unread in the terminal's title (/title on|off on the screen)")
	fs.StringVar(&o.identityPath, "identity", "", "present the client certificate and key in `FILE` (made there if missing; default ~/.config/chatd/identity.pem, made on first use)")
	fs.BoolVar(&o.noIdentity, "no-identity", false, "present no client certificate: the server knows you by your address only")
	fs.BoolVar(&o.showIdentity, "show-identity", false, "print your identity file and its fingerprint (sha256:..., what an operator's /allow takes) and exit")
	fs.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	return fs
}

// flagGroups lists the flags under headings, in the order the usage shows
// them.
var flagGroups = []struct {
	title string
	flags []string
}{
	{"Joining", []string{"nick", "plain", "shuffle"}},
	{"Verifying the server (without these: the system's certificate authorities, else trust on first use)", []string{"ca", "fingerprint", "known-servers", "insecure"}},
	{"Your identity (a client certificate: /register binds your nickname to it)", []string{"identity", "no-identity", "show-identity"}},
	{"The screen", []string{"title"}},
	{"Labs (these weaken the session on purpose, and say so)", []string{"keylog"}},
	{"Other", []string{"version"}},
}

// printUsage writes chat's usage: the command line, the flags by group as
// chatd writes its own, and the exit statuses.
func printUsage(fs *flag.FlagSet, out io.Writer) {
	fmt.Fprintf(out, "Usage:\n  chat [flags] HOST[:PORT]   join the chat room of the chatd server at HOST (port %s if omitted)\n"+
		"  chat [flags] HOST1[:PORT],HOST2[:PORT],...\n"+
		"                             join the room that these nodes of one chatd cluster serve (at most %d)\n"+
		"  chat --show-identity       print your identity file and its fingerprint, made if missing\n"+
		"\nSeveral servers: chat joins through the first that answers (a name with several addresses counts as\n"+
		"several); when the connection is lost it tries the next one first, then each in turn, and resumes where\n"+
		"it was: nothing missed, nothing twice. Each node is verified as one server is. Give the nodes one\n"+
		"certificate whose names cover them all (or certificates from one CA, with --ca): then one --ca, one\n"+
		"--fingerprint, or one \"yes\" to trust on first use covers every node (the certificate remembered for one\n"+
		"node is trusted, and remembered, for another that presents it). A node whose certificate is not trusted\n"+
		"is skipped, and chat says so.\n", defaultPort, client.MaxAddrs)
	for _, g := range flagGroups {
		fmt.Fprintf(out, "\n%s:\n", g.title)
		for _, name := range g.flags {
			printFlag(out, fs.Lookup(name))
		}
	}
	fmt.Fprintf(out, "\nExit status: %d after /quit, Ctrl+C or the end of --plain's input; %d if the connection failed or was lost\n"+
		"(or --plain's input had a line over 64 KiB, or the certificate was not trusted), or the server sent you away\n"+
		"(kicked, banned, refused: chat says why and does not retry); %d for a mistake on the command line;\n"+
		"%d if --plain's nickname is invalid or taken.\n", exitOK, exitFailed, exitUsage, exitNickname)
}

// printFlag writes one flag GNU-style: its name and argument, then its
// usage with the default, if any, on the next line.
func printFlag(out io.Writer, f *flag.Flag) {
	name, usage := flag.UnquoteUsage(f)
	fmt.Fprintf(out, "  --%s", f.Name)
	if name != "" {
		fmt.Fprintf(out, " %s", name)
	}
	fmt.Fprintf(out, "\n\t%s", usage)
	if f.DefValue != "" && f.DefValue != "false" && !strings.Contains(usage, "(default") {
		fmt.Fprintf(out, " (default %q)", f.DefValue)
	}
	fmt.Fprintln(out)
}
