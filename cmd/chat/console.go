package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"chatd/room"
	"chatd/tlsgw"
)

// console talks to the user before the chat starts, on stderr and stdin.
type console struct {
	in    *bufio.Reader
	inRaw io.Reader
	out   io.Writer
	color bool
}

func newConsole(in io.Reader, out io.Writer) *console {
	return &console{in: bufio.NewReader(in), inRaw: in, out: out, color: isTerminal(out)}
}

func (c *console) interactive() bool { return isTerminal(c.inRaw) }

func (c *console) say(text string) { fmt.Fprintln(c.out, text) }

// warn prints text in bold red when the output is a terminal.
func (c *console) warn(text string) {
	if c.color {
		text = "\x1b[1;31m" + text + "\x1b[0m"
	}
	fmt.Fprintln(c.out, text)
}

// fail explains an error that ends the program; a changed certificate is
// shouted.
func (c *console) fail(err error) {
	var changed *tlsgw.CertChangedError
	if errors.As(err, &changed) {
		c.warn("@@@ WARNING: SERVER CERTIFICATE HAS CHANGED @@@")
		c.warn("chat: " + err.Error())
		return
	}
	fmt.Fprintln(c.out, "chat:", err)
}

// showCertificate prints what a user needs to decide on an unknown one.
func (c *console) showCertificate(u *tlsgw.UnknownCertError) {
	// Everything in a certificate is the server's text: clean it, so that a
	// forged certificate cannot hide or fake the lines the user checks.
	cert := u.Cert
	var names []string
	for _, n := range cert.DNSNames {
		names = append(names, room.Clean(n))
	}
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	fmt.Fprintf(c.out, "The server %s presented a certificate that no authority you trust has signed:\n", u.Addr)
	fmt.Fprintf(c.out, "  subject:     %s\n", room.Clean(cert.Subject.String()))
	fmt.Fprintf(c.out, "  issuer:      %s\n", room.Clean(cert.Issuer.String()))
	fmt.Fprintf(c.out, "  names (SAN): %s\n", strings.Join(names, ", "))
	fmt.Fprintf(c.out, "  expires:     %s\n", cert.NotAfter.UTC().Format(time.RFC1123))
	fmt.Fprintf(c.out, "  SHA-256:     %s\n", u.Fingerprint)
	fmt.Fprintln(c.out, "Compare the fingerprint with the one the server's operator gave you (chatd prints it at start).")
}

// confirm asks a yes/no question; only "y" or "yes" is yes.
func (c *console) confirm(question string) bool {
	fmt.Fprintf(c.out, "%s [y/N] ", question)
	answer, err := c.in.ReadString('\n')
	if err != nil && answer == "" {
		return false
	}
	answer = strings.ToLower(strings.TrimSpace(answer))
	return answer == "y" || answer == "yes"
}
