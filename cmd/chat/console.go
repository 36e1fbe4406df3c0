package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"chatd/certs"
	"chatd/client"
	"chatd/room"
)

// console talks to the user before the chat starts, on stderr and stdin.
type console struct {
	in    *bufio.Reader
	inRaw io.Reader
	out   io.Writer
	color bool

	mu      sync.Mutex
	startup []*room.Event // the warnings given before the screen started, for the screen to show again
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

// warnAtStart warns as warn does, and keeps the warning for the chat
// screen: the full-screen view hides what was printed before it, until the
// program ends, so the screen shows these again as its first error lines.
func (c *console) warnAtStart(text string) {
	c.warn(text)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.startup = append(c.startup, &room.Event{Kind: room.Error, Time: time.Now(), Text: text})
}

// startupWarnings are the warnings warnAtStart gave.
func (c *console) startupWarnings() []*room.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*room.Event(nil), c.startup...)
}

// fail explains an error that ends the program; a changed certificate is
// shouted. Errors can carry the server's text (a certificate's names):
// they are shown cleaned, line by line.
func (c *console) fail(err error) {
	var changed *client.CertChangedError
	if errors.As(err, &changed) {
		c.warn("@@@ WARNING: SERVER CERTIFICATE HAS CHANGED @@@")
		c.warn("chat: " + errorText(err))
		return
	}
	var notCA *client.NotSignedByCAError
	if errors.As(err, &notCA) {
		c.warn("@@@ WARNING: SERVER CERTIFICATE IS NOT THE ONE YOUR --ca TRUSTS @@@")
		c.warn("chat: " + errorText(err))
		return
	}
	fmt.Fprintln(c.out, "chat:", errorText(err))
}

// errorText is err's text safe to print: the certificate names of a host
// name mismatch are quoted (Go's x509 lists them as they are, and a name
// may hold control characters), and every line is cleaned like chat text.
func errorText(err error) string {
	text := err.Error()
	var wrongHost x509.HostnameError
	if errors.As(err, &wrongHost) && wrongHost.Certificate != nil {
		text = strings.Replace(text, wrongHost.Error(), fmt.Sprintf("x509: the certificate is valid for %s, not %s",
			strings.Join(certs.Names(wrongHost.Certificate), ", "), room.Clean(wrongHost.Host)), 1)
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = room.Clean(l)
	}
	return strings.Join(lines, "\n")
}

// showCertificate prints what a user needs to decide on an unknown one:
// the warning, then at once the fingerprint, the one thing to check; then
// the certificate's own text, which is the server's and so could say
// anything: each field quoted, cleaned and cut short (certs.QuoteText),
// so that none can draw a line of its own or a fake fingerprint.
func (c *console) showCertificate(u *client.UnknownCertError) {
	cert := u.Cert
	fmt.Fprintf(c.out, "The server %s presented a certificate that no authority you trust has signed.\n", room.Clean(u.Addr))
	fmt.Fprintf(c.out, "  SHA-256:     %s\n", u.Fingerprint)
	fmt.Fprintln(c.out, "Compare this fingerprint with the one the server's operator gave you (chatd prints it at start).")
	fmt.Fprintln(c.out, "What the certificate says about itself (the server's words, quoted):")
	fmt.Fprintf(c.out, "  subject:     %s\n", certs.QuoteText(cert.Subject.String()))
	fmt.Fprintf(c.out, "  issuer:      %s\n", certs.QuoteText(cert.Issuer.String()))
	label := "  names (SAN): "
	for _, name := range certs.Names(cert) {
		fmt.Fprintf(c.out, "%s%s\n", label, name)
		label = "               "
	}
	fmt.Fprintf(c.out, "  expires:     %s\n", cert.NotAfter.UTC().Format(time.RFC1123))
}

// confirm asks a yes/no question; only "y" or "yes" is yes. Ctrl+C (ctx
// ends: chat catches the interrupt) is no, at once.
func (c *console) confirm(ctx context.Context, question string) bool {
	fmt.Fprintf(c.out, "%s [y/N] ", question)
	answered := make(chan string, 1)
	go func() {
		answer, _ := c.in.ReadString('\n') // the end of input is no
		answered <- answer
	}()
	select {
	case answer := <-answered:
		answer = strings.ToLower(strings.TrimSpace(answer))
		return answer == "y" || answer == "yes"
	case <-ctx.Done():
		fmt.Fprintln(c.out) // the prompt's line ends here
		return false
	}
}
