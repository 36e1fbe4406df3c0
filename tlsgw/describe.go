package tlsgw

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"

	"chatd/certs"
)

// notesKey is the context key under which a session's handshake carries
// where to note what /crypto tells of it (see ServerConfig).
type notesKey struct{}

// handshakeNotes is what a session's handshake notes for /crypto that the
// connection state does not keep.
type handshakeNotes struct {
	served    *tls.Certificate // the certificate presented, nil on a resumption
	alpn      []string         // the ALPN protocols the client offered, bounded and cut
	alpnCount int              // how many it offered in all
	// resumedFP is the fingerprint of the certificate of the original
	// handshake, carried in the session ticket, when the client offered
	// one that decrypted (used only if the session did resume).
	resumedFP string
}

// Bounds on the ALPN protocols noted: a client may offer many, long ones.
const (
	maxNotedALPN      = 8
	maxNotedALPNBytes = 32
)

// notesOf returns the notes of the handshake whose context is ctx, or nil.
func notesOf(ctx context.Context) *handshakeNotes {
	n, _ := ctx.Value(notesKey{}).(*handshakeNotes)
	return n
}

// noteServed records cert as the one presented on the handshake whose
// context is ctx, if that handshake asked for it.
func noteServed(ctx context.Context, cert *tls.Certificate) {
	if n := notesOf(ctx); n != nil && cert != nil {
		n.served = cert
	}
}

// noteHello records the ALPN protocols the client offered: at most
// maxNotedALPN, each cut to maxNotedALPNBytes.
func noteHello(n *handshakeNotes, hello *tls.ClientHelloInfo) {
	n.alpnCount = len(hello.SupportedProtos)
	n.alpn = nil
	for _, p := range hello.SupportedProtos[:min(len(hello.SupportedProtos), maxNotedALPN)] {
		if len(p) > maxNotedALPNBytes {
			p = p[:maxNotedALPNBytes]
		}
		n.alpn = append(n.alpn, p)
	}
}

// handshakeContext returns the context of a handshake that notes what
// /crypto tells in *notes. It never ends: the connection's deadline bounds
// the handshake.
func handshakeContext(notes *handshakeNotes) context.Context {
	return context.WithValue(context.Background(), notesKey{}, notes)
}

// ticketFPPrefix marks the session ticket's Extra entry that holds the
// fingerprint of the certificate of the original handshake.
const ticketFPPrefix = "chatd-served-fp:"

// withTicketNotes returns a copy of cfg for one handshake whose session
// tickets carry the fingerprint of the certificate presented (or, on a
// resumed session, of the original handshake's), and whose resumption
// notes that fingerprint in n. Tickets are sealed and opened with cfg,
// whose keys every connection shares (and rotate there).
func withTicketNotes(cfg *tls.Config, n *handshakeNotes) *tls.Config {
	c := cfg.Clone()
	c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		fp := n.resumedFP
		if !cs.DidResume && n.served != nil && len(n.served.Certificate) > 0 {
			fp = certs.Fingerprint(n.served.Certificate[0])
		}
		if fp != "" {
			ss.Extra = append(ss.Extra, []byte(ticketFPPrefix+fp))
		}
		return cfg.EncryptTicket(cs, ss) // the shared config: its keys rotate there
	}
	c.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		// crypto/tls unwraps the client's identities in turn until it
		// accepts one: only the last one unwrapped (the accepted one, if
		// the session resumes) may leave its fingerprint.
		n.resumedFP = ""
		ss, err := cfg.DecryptTicket(identity, cs)
		if err != nil || ss == nil {
			return ss, err
		}
		for _, e := range ss.Extra {
			if fp, ok := strings.CutPrefix(string(e), ticketFPPrefix); ok {
				n.resumedFP = fp
			}
		}
		return ss, nil
	}
	return c
}

// describe is the member's /crypto (room.JoinOptions.Describe): what its
// TLS session negotiated, whether it showed a certificate, and the
// fingerprint of the server's. Everything the client chose (SNI, the ALPN
// protocols it offered) is quoted, as the certificate texts the client
// shows are.
func (s *session) describe() []string {
	st := s.conn.ConnectionState()
	lines := []string{
		"Your connection: TLS (the line protocol), as the server sees it",
		fmt.Sprintf("protocol: %s, cipher suite %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite)),
		"key exchange: " + groupName(st.CurveID),
		"server name you sent (SNI): " + quotedOrNone(st.ServerName),
		"ALPN offered by your client: " + s.offeredALPN() + "; chatd negotiates none (one protocol)",
		"server profile: " + s.srv.cfg.Profile.String(),
		"your client certificate: " + clientCertLine(st),
		s.servedLine(st),
	}
	if s.srv.cfg.KeyLog != "" {
		lines = append(lines, KeyLogGreeting)
	}
	if s.srv.cfg.Profile.Weak() {
		lines = append(lines, WeakWarning)
	}
	return lines
}

// offeredALPN lists the ALPN protocols the client offered, quoted.
func (s *session) offeredALPN() string {
	n := &s.notes
	if n.alpnCount == 0 {
		return "none"
	}
	quoted := make([]string, len(n.alpn))
	for i, p := range n.alpn {
		quoted[i] = certs.QuoteText(p)
	}
	out := strings.Join(quoted, ", ")
	if n.alpnCount > len(n.alpn) {
		out += fmt.Sprintf(", … (%d in all)", n.alpnCount)
	}
	return out
}

// servedLine gives the fingerprint of the certificate the server presented
// on this connection (it may have replaced it since). A resumed handshake
// presents none: the line then gives the one of the original handshake,
// which the session ticket carries.
func (s *session) servedLine(st tls.ConnectionState) string {
	if st.DidResume {
		if s.notes.resumedFP != "" {
			return "server certificate: resumed session; certificate of the original handshake: SHA-256 fingerprint " + s.notes.resumedFP
		}
		return "server certificate: resumed session; no certificate was presented in this handshake, and the session ticket does not name the original one"
	}
	if s.notes.served == nil || len(s.notes.served.Certificate) == 0 {
		return "server certificate SHA-256 fingerprint: unknown"
	}
	return "server certificate SHA-256 fingerprint: " + certs.Fingerprint(s.notes.served.Certificate[0])
}

// clientCertLine says whether the client showed a certificate, and its
// fingerprint if so.
func clientCertLine(st tls.ConnectionState) string {
	if len(st.PeerCertificates) == 0 {
		return "none shown (you are known by your address)"
	}
	return "SHA-256 fingerprint " + certs.Fingerprint(st.PeerCertificates[0].Raw) + " (not verified: it only shows the same key came back)"
}

// groupName names a key exchange group for people (the greeting, /crypto).
// 0 means no (EC)DHE group was used: RSA key exchange, which only the old
// profile's TLS_RSA_ suites allow (TLS 1.3 always uses a group, and on Go
// 1.26 a resumed TLS 1.2 session reports the group of its original
// handshake).
func groupName(id tls.CurveID) string {
	if id == 0 {
		return "none (RSA key exchange)"
	}
	return id.String()
}

// groupLabel names a key exchange group for the log's group= field and the
// chatd_tls_handshakes_total metric's group label: the group's name, or
// "none" for RSA key exchange (see groupName), a stable label.
func groupLabel(id tls.CurveID) string {
	if id == 0 {
		return "none"
	}
	return id.String()
}

// quotedOrNone quotes text the client chose, or says "none".
func quotedOrNone(s string) string {
	if s == "" {
		return "none"
	}
	return certs.QuoteText(s)
}
