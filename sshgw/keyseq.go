package sshgw

import "unicode/utf8"

// maxSeqBytes bounds one escape sequence from a client. A terminal's keys,
// mouse reports and paste markers are a few bytes long; anything longer is
// dropped whole.
const maxSeqBytes = 64

// unitKind says what a unit of input is.
type unitKind uint8

const (
	unitText       unitKind = iota // one character, or a control key
	unitSeq                        // a whole escape sequence (a key or a mouse report)
	unitPasteStart                 // ESC [ 200 ~, in any spelling
	unitPasteEnd                   // ESC [ 201 ~, in any spelling
)

// sequencer cuts a client's bytes into units: a whole character (ASCII,
// or valid UTF-8 that is not a C1 control), or a complete escape sequence
// of at most maxSeqBytes: CSI, SS3, or ESC and one character (Alt+key).
// Everything else is dropped: invalid UTF-8, C1 controls, strings (OSC,
// DCS, APC, PM, SOS: a screen has no use for them), and sequences that
// grow past maxSeqBytes, up to their end. Paste markers are recognised in
// every spelling. It holds at most one incomplete sequence or character.
type sequencer struct {
	held     []byte // an escape sequence or a character begun, not yet complete
	need     int    // continuation bytes the character being held still needs
	skipping bool   // dropping the rest of an over-long control sequence
	inString bool   // dropping a string, up to BEL or ST
	strEsc   bool   // the last byte of the string was ESC: ST may follow
	strLen   int    // bytes of the string so far
	alt      bool   // an ESC came before held's: ESC ESC [ ... is Alt and a CSI key
	x10Left  int    // bytes of an X10 mouse report (ESC [ M and 3 bytes) still to come
	one      [1]byte
	// Pasting is set by the sequencer's user while a paste is open: its
	// text may be cut across reads anywhere, so no read's end decides.
	pasting bool
}

// feed cuts in into units and hands each to emit. boundary says that in
// ends where the client's write ended (the read did not fill its buffer):
// a terminal writes a key's sequence at once, so there an escape begun is
// decided (a lone ESC is the Esc key, ESC and one more byte is Alt and that
// key, a string not ended is dropped). Inside a paste, or at the end of a
// full read, what was begun waits for the rest.
func (s *sequencer) feed(in []byte, boundary bool, emit func(unitKind, []byte)) {
	for _, c := range in {
		s.step(c, emit)
	}
	if !boundary || s.pasting {
		return
	}
	if s.inString {
		s.inString = false
		if s.strLen == 0 { // ESC ] and no more: Alt+]
			s.complete(unitSeq, emit)
		}
		return
	}
	if s.need == 0 && (len(s.held) == 1 || len(s.held) == 2) && s.held[0] == 0x1b {
		s.complete(unitSeq, emit)
	}
}

// step takes one byte.
func (s *sequencer) step(c byte, emit func(unitKind, []byte)) {
	switch {
	case s.inString:
		s.stringByte(c, emit)
	case s.skipping:
		s.skip(c, emit)
	case c == 0x1b:
		s.begin(emit)
	case s.need > 0:
		s.continuation(c, emit)
	case len(s.held) > 0:
		s.extend(c, emit)
	default:
		s.text(c, emit)
	}
}

// text takes a byte outside escape sequences.
func (s *sequencer) text(c byte, emit func(unitKind, []byte)) {
	switch n := utf8Continuations(c); {
	case c < 0x80:
		s.one[0] = c
		emit(unitText, s.one[:])
	case n > 0:
		s.held = append(s.held[:0], c)
		s.need = n
	}
	// A stray continuation byte, C1 control or invalid lead: dropped.
}

// utf8Continuations returns how many continuation bytes follow the lead
// byte c of a UTF-8 character, or 0 if c cannot lead one.
func utf8Continuations(c byte) int {
	switch {
	case 0xc2 <= c && c <= 0xdf:
		return 1
	case 0xe0 <= c && c <= 0xef:
		return 2
	case 0xf0 <= c && c <= 0xf4:
		return 3
	}
	return 0
}

// continuation takes a byte of a UTF-8 character being held, alone or
// after an ESC (Alt and the character).
func (s *sequencer) continuation(c byte, emit func(unitKind, []byte)) {
	if c < 0x80 || c > 0xbf {
		s.held, s.need = s.held[:0], 0 // not a character: dropped
		s.step(c, emit)
		return
	}
	s.held = append(s.held, c)
	if s.need--; s.need > 0 {
		return
	}
	char := s.held
	if char[0] == 0x1b {
		char = char[1:]
	}
	if r, _ := utf8.DecodeRune(char); r == utf8.RuneError || r <= 0x9f {
		s.held = s.held[:0] // invalid, or a C1 control
		return
	}
	kind := unitText
	if s.held[0] == 0x1b {
		kind = unitSeq
	}
	s.complete(kind, emit)
}

// begin starts a sequence at an ESC. A sequence or character begun is
// incomplete: dropped, but for a lone ESC, which was the Esc key.
func (s *sequencer) begin(emit func(unitKind, []byte)) {
	if len(s.held) == 1 && s.held[0] == 0x1b {
		if !s.alt { // ESC ESC: perhaps Alt and a CSI or SS3 key
			s.alt = true
			return
		}
		s.complete(unitSeq, emit)
	}
	s.held, s.need, s.alt = append(s.held[:0], 0x1b), 0, false
}

// extend adds c to the escape sequence begun.
func (s *sequencer) extend(c byte, emit func(unitKind, []byte)) {
	if len(s.held) == 1 {
		s.introducer(c, emit)
		return
	}
	if s.x10Left > 0 {
		s.x10Byte(c, emit)
		return
	}
	s.held = append(s.held, c)
	switch {
	case s.held[1] == 'O' && ('0' <= c && c <= '9' || c == ';'): // SS3 with a modifier
		s.checkLength()
	case s.held[1] == 'O': // SS3: its final byte
		s.complete(unitSeq, emit)
	case c == '$' && digitsOnly(s.held[2:len(s.held)-1]): // rxvt's shifted keys
		s.complete(unitSeq, emit)
	case c == 'M' && len(s.held) == 3: // an X10 mouse report: 3 bytes follow
		s.x10Left = 3
	case 0x20 <= c && c <= 0x3f: // parameters and intermediates
		s.checkLength()
	case 0x40 <= c && c <= 0x7e:
		s.complete(csiKind(s.held), emit)
	default: // not part of a sequence: the sequence is broken
		s.held = s.held[:0]
		s.step(c, emit)
	}
}

// checkLength drops a control sequence that has grown past maxSeqBytes,
// and the rest of it as it comes.
func (s *sequencer) checkLength() {
	if len(s.held) > maxSeqBytes {
		s.held, s.skipping, s.alt = s.held[:0], true, false
	}
}

// digitsOnly reports whether b holds only digits and semicolons.
func digitsOnly(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && c != ';' {
			return false
		}
	}
	return true
}

// x10Byte takes a byte of an X10 mouse report. Its bytes are 0x20 and
// above; anything else breaks the report.
func (s *sequencer) x10Byte(c byte, emit func(unitKind, []byte)) {
	if c < 0x20 {
		s.held, s.x10Left, s.alt = s.held[:0], 0, false
		s.step(c, emit)
		return
	}
	s.held = append(s.held, c)
	if s.x10Left--; s.x10Left == 0 {
		s.complete(unitSeq, emit)
	}
}

// introducer takes the byte after ESC.
func (s *sequencer) introducer(c byte, emit func(unitKind, []byte)) {
	if s.alt && c != '[' && c != 'O' { // ESC ESC and not a key's sequence
		s.alt = false
		s.complete(unitSeq, emit) // the first ESC: the Esc key
		s.held = append(s.held[:0], 0x1b)
	}
	switch {
	case c == '[' || c == 'O':
		s.held = append(s.held, c)
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		s.held = append(s.held, c) // kept only in case it was Alt and the key
		s.inString, s.strEsc, s.strLen = true, false, 0
	case utf8Continuations(c) > 0: // Alt and a non-ASCII character
		s.held, s.need = append(s.held, c), utf8Continuations(c)
	case c < 0x80:
		s.held = append(s.held, c)
		s.complete(unitSeq, emit) // Alt and a key
	default: // ESC and a C1 control or invalid byte: the Esc key alone
		s.complete(unitSeq, emit)
	}
}

// csiKind tells paste markers from other control sequences: the final
// byte ~ with a first parameter of 200 or 201, however written. (Other
// sequences the decoder would read as paste markers are not passed on as
// such: only the screen's own keys and mouse reports are.)
func csiKind(seq []byte) unitKind {
	if len(seq) < 3 || seq[1] != '[' || seq[len(seq)-1] != '~' {
		return unitSeq
	}
	n := 0
	for _, c := range seq[2 : len(seq)-1] {
		if c < '0' || c > '9' {
			break
		}
		n = min(n*10+int(c-'0'), 1000)
	}
	switch n {
	case 200:
		return unitPasteStart
	case 201:
		return unitPasteEnd
	}
	return unitSeq
}

// complete hands the unit held on, after the ESC of Alt if one came
// before it.
func (s *sequencer) complete(kind unitKind, emit func(unitKind, []byte)) {
	unit := s.held
	if s.alt {
		unit = append([]byte{0x1b}, unit...)
		kind = unitSeq
	}
	emit(kind, unit)
	s.held, s.need, s.alt = s.held[:0], 0, false
}

// skip drops bytes of an over-long control sequence up to its final byte,
// or the ESC that starts another sequence.
func (s *sequencer) skip(c byte, emit func(unitKind, []byte)) {
	switch {
	case c == 0x1b:
		s.skipping = false
		s.begin(emit)
	case 0x40 <= c && c <= 0x7e:
		s.skipping = false
	case c < 0x20 || c > 0x7e:
		s.skipping = false
		s.step(c, emit)
	}
}

// stringByte drops a byte of a string (OSC, DCS, APC, PM, SOS), which ends
// at BEL or ST (ESC \). ESC and anything else starts a new sequence.
func (s *sequencer) stringByte(c byte, emit func(unitKind, []byte)) {
	s.held = s.held[:0]
	s.strLen++
	switch {
	case c == 0x07, s.strEsc && c == '\\':
		s.inString = false
	case s.strEsc:
		s.inString = false
		s.begin(emit)
		s.step(c, emit)
	case c == 0x1b:
		s.strEsc = true
		return
	}
	s.strEsc = false
}
