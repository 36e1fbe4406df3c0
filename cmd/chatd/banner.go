package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"chatd/certs"
	"chatd/internal/jetlog"
	"chatd/internal/keylog"
	"chatd/tlsgw"
)

// banner says, as chatd starts, where it listens, how to connect and what
// to check: as text on standard output, or with --log-format json as log
// records on standard error (and nothing on standard output), one record
// per part, each with the same facts as the text.
type banner struct {
	text   io.Writer // nil: JSON mode
	logger *slog.Logger
}

// newBanner returns the banner for the log format: text to stdout, or
// records to logger.
func newBanner(logFormat string, stdout io.Writer, logger *slog.Logger) *banner {
	if logFormat == "json" {
		return &banner{logger: logger}
	}
	return &banner{text: stdout, logger: logger}
}

// part is one part of the banner: its text, and its record's message and
// attributes.
type part struct {
	text  string
	msg   string
	attrs []slog.Attr
	level slog.Level // of its record; the zero value is Info
}

// say shows one part of the banner.
func (b *banner) say(p part) {
	if b.text != nil {
		io.WriteString(b.text, p.text)
		return
	}
	b.logger.LogAttrs(context.Background(), p.level, p.msg, p.attrs...)
}

// warn shows one part of the banner that the operator must not miss: as
// text (in text mode) and, in both modes, as a WARN record on the log.
func (b *banner) warn(p part) {
	if b.text != nil {
		io.WriteString(b.text, p.text)
	}
	b.logger.LogAttrs(context.Background(), slog.LevelWarn, p.msg, p.attrs...)
}

// certificatePart says which certificate is served, how to check it, and
// how a user who is not the server's owner gets it.
func certificatePart(sc *servedCert, created string, replaced *x509.Certificate) part {
	leaf := sc.Cert.Leaf
	var b strings.Builder
	fmt.Fprintf(&b, "TLS certificate: %s", sc.File)
	switch {
	case replaced != nil && samePublicKey(leaf, replaced):
		fmt.Fprintf(&b, " (new, same key: %s)", created)
	case created != "":
		fmt.Fprintf(&b, " (new: %s)", created)
	}
	b.WriteString("\n")
	if replaced != nil {
		fmt.Fprintf(&b, "  CHANGED: it replaces SHA-256 %s; users who trusted that one will be warned or refused until they get this one\n",
			certs.Fingerprint(replaced.Raw))
	}
	printCertSummary(&b, leaf)
	attrs := []slog.Attr{
		slog.String("file", sc.File),
		slog.String("fingerprint", certs.Fingerprint(leaf.Raw)),
		slog.Any("valid_for", append([]string{}, certs.SubjectAltNames(leaf)...)), // [] rather than null when none
		slog.Time("not_after", leaf.NotAfter.UTC()),
		slog.Bool("self_signed", sc.SelfSigned),
	}
	if created != "" {
		attrs = append(attrs, slog.String("new", created))
	}
	if replaced != nil {
		attrs = append(attrs, slog.String("replaces_fingerprint", certs.Fingerprint(replaced.Raw)))
	}
	b.WriteString(publicCopyText(sc))
	attrs = append(attrs, publicCopyAttrs(sc)...)
	return part{text: b.String(), msg: "TLS certificate", attrs: attrs}
}

// printCertSummary prints what a user needs to check a certificate: its
// fingerprint, the names it is valid for and until when.
func printCertSummary(out io.Writer, leaf *x509.Certificate) {
	hosts := certs.SubjectAltNames(leaf) // the operator's own certificate: shown as is
	fmt.Fprintf(out, "  SHA-256 fingerprint: %s\n", certs.Fingerprint(leaf.Raw))
	if len(hosts) == 0 {
		fmt.Fprintf(out, "  valid for: no subjectAltName, only the common name %q; until %s\n", leaf.Subject.CommonName, leaf.NotAfter.UTC().Format(time.DateOnly))
		fmt.Fprintln(out, "  warning: clients that check host names by subjectAltName (Go's, browsers, chat) will refuse it; see README")
		return
	}
	fmt.Fprintf(out, "  valid for: %s; until %s\n", strings.Join(hosts, ", "), leaf.NotAfter.UTC().Format(time.DateOnly))
}

// publicCopyText says where the public copy is and whether other users can
// read it.
func publicCopyText(sc *servedCert) string {
	if sc.Public == "" {
		return fmt.Sprintf("  public copy: not written (%v)\n", sc.PublicErr)
	}
	readable := "readable by every user on this machine"
	if sc.PublicErr != nil {
		readable = "but " + sc.PublicErr.Error()
	}
	return fmt.Sprintf("  public copy: %s (%s)\n  hand it out: %s cert --print %s (prints it with its fingerprint)\n",
		sc.Public, readable, shellQuote(programName), shellQuote(sc.Public))
}

func publicCopyAttrs(sc *servedCert) []slog.Attr {
	attrs := []slog.Attr{slog.String("public_copy", sc.Public), slog.Bool("public_copy_readable_by_all", sc.Public != "" && sc.PublicErr == nil)}
	if sc.Public != "" {
		attrs = append(attrs, slog.String("print_command", shellQuote(programName)+" cert --print "+shellQuote(sc.Public)))
	}
	if sc.PublicErr != nil {
		attrs = append(attrs, slog.String("public_copy_problem", sc.PublicErr.Error()))
	}
	return attrs
}

// tlsPart says where TLS listens, with which profile when it is not the
// default, and the openssl command that connects.
func tlsPart(addr net.Addr, profile tlsgw.Profile, connect string) part {
	with := ""
	if profile != tlsgw.ProfileIntermediate {
		with = fmt.Sprintf(" (TLS profile %s)", profile)
	}
	return part{
		text: fmt.Sprintf("TLS listening on %s%s\nConnect with:\n  %s\n", addr, with, connect),
		msg:  "TLS listening",
		attrs: []slog.Attr{slog.String("addr", addr.String()), slog.String("tls_profile", profile.String()),
			slog.String("connect", connect)},
	}
}

// weakProfilePart warns that the TLS profile is a weak one, and how to get
// back to the default.
func weakProfilePart(profile tlsgw.Profile) part {
	const fix = "--tls-profile intermediate (the default) or modern"
	return part{
		text:  fmt.Sprintf("%s\n  Harden with %s.\n", tlsgw.WeakWarning, fix),
		msg:   "weak TLS profile on purpose: TLS 1.0, TLS 1.1 and CBC cipher suites are enabled, for hardening exercises only",
		attrs: []slog.Attr{slog.String("tls_profile", profile.String()), slog.String("fix", fix)},
	}
}

// sshPart says where SSH listens, its host key, where its public half is
// (for ssh-keygen -lf) and how to connect.
func sshPart(addr net.Addr, keyPath, pubPath, fingerprint, connect string) part {
	public := ""
	if pubPath != "" {
		public = fmt.Sprintf("  public half: %s (check: ssh-keygen -lf %s)\n", pubPath, shellQuote(pubPath))
	}
	return part{
		text: fmt.Sprintf("SSH host key: %s\n  fingerprint: %s\n%sSSH listening on %s\nConnect with:\n  %s\n",
			keyPath, fingerprint, public, addr, connect),
		msg: "SSH listening",
		attrs: []slog.Attr{slog.String("addr", addr.String()), slog.String("host_key", keyPath),
			slog.String("host_key_public", pubPath),
			slog.String("fingerprint", fingerprint), slog.String("connect", connect)},
	}
}

// keyLogPart warns that --keylog is on: every TLS session can be
// decrypted by whoever holds the file.
func keyLogPart(path string) part {
	return part{
		text: "WARNING: " + keylog.Warning(path) + " (--keylog: for labs only)\n",
		msg:  "TLS key log on: sessions can be decrypted",
		attrs: []slog.Attr{slog.String("keylog", path),
			slog.String("warning", "whoever has this file and a capture can decrypt every TLS session")},
		level: slog.LevelWarn,
	}
}

// metricsPart says where to scrape.
func metricsPart(addr net.Addr) part {
	url := fmt.Sprintf("http://%s/metrics", addr)
	return part{text: "Metrics on " + url + "\n", msg: "metrics listening", attrs: []slog.Attr{slog.String("url", url)}}
}

// opensslCommand is the openssl s_client command that connects to host and
// port with full verification: the host name (or IP address) checked, SNI
// sent for a name (so openssl 3.0 does not complain that it has none) and
// left out for an address (SNI carries names only), and caFile, if set, as
// the only trust anchor.
func opensslCommand(host, port, caFile string) string {
	args := []string{"openssl", "s_client", "-quiet", "-verify_return_error"}
	if net.ParseIP(host) != nil {
		args = append(args, "-verify_ip", host, "-noservername")
	} else {
		args = append(args, "-verify_hostname", host, "-servername", host)
	}
	args = append(args, "-connect", net.JoinHostPort(host, port))
	if caFile != "" {
		args = append(args, "-CAfile", shellQuote(caFile))
	}
	return strings.Join(args, " ")
}

// sshCommand is the ssh command that joins the room over SSH.
func sshCommand(host, port string) string {
	return fmt.Sprintf("ssh -p %s NICK@%s", port, host)
}

// shellQuote returns s as one shell word: as is if it holds only
// characters no shell treats specially, else in single quotes.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:@,=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// storePart says where the room's history is kept and its limits: the
// embedded store's directory, the external server's address (without
// credentials), or that it is forgotten at restart; and how many events a
// joiner is shown.
func storePart(s storeConfig, dir string, shown int) part {
	attrs := []slog.Attr{slog.String("store", s.kind), slog.Int("history_shown", shown)}
	var where string
	switch {
	case s.kind == storeMemory:
		where = "in memory only (--store memory): forgotten at restart"
	case s.natsURL != "":
		url := jetlog.RedactURLs(s.natsURL)
		where = "on the NATS server " + url + " (stream " + jetlog.DefaultStream + ")"
		attrs = append(attrs, slog.String("nats", url))
	default:
		where = "in " + dir + " (embedded NATS JetStream)"
		attrs = append(attrs, slog.String("dir", dir))
	}
	limits := ""
	if s.kind != storeMemory {
		limits = fmt.Sprintf("; the last %d events, each for %s", s.keep, ageText(s.maxAge))
		attrs = append(attrs, slog.Int64("history_keep", s.keep), slog.Duration("history_max_age", s.maxAge))
	}
	return part{
		text:  fmt.Sprintf("History: %s%s; a joiner is shown the last %d\n", where, limits, shown),
		msg:   "history",
		attrs: attrs,
	}
}

// ageText says how long d is, in days when it is a whole number of them.
func ageText(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}
