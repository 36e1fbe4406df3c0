package tui

// maxSeqBytes bounds one escape sequence from a client. A terminal's keys,
// mouse reports and paste markers are a few bytes long; anything longer is
// dropped whole, so the key decoder never holds an endless one.
const maxSeqBytes = 64

// unitKind says what a unit of input is.
type unitKind uint8

const (
	unitByte       unitKind = iota // one byte of text or a control key
	unitSeq                        // a whole escape sequence
	unitPasteStart                 // ESC [ 200 ~, in any spelling
	unitPasteEnd                   // ESC [ 201 ~, in any spelling
)

// sequencer cuts a client's bytes into units, so that what is passed on
// and what is dropped is always whole: a byte, or a complete escape
// sequence of at most maxSeqBytes. It holds at most one incomplete
// sequence. Over-long sequences are dropped up to their end; C1 control
// bytes outside UTF-8 characters (such as the one-byte CSI 0x9B) are
// dropped; paste markers are recognised in every spelling the decoder
// accepts and passed on in one.
type sequencer struct {
	held      []byte // an escape sequence begun, not yet complete
	skipping  bool   // dropping the rest of an over-long sequence
	inString  bool   // held (or the one skipped) is a string: OSC, DCS, APC, PM, SOS
	stringEsc bool   // the last byte of a string was ESC: ST may follow
	utf8Left  int    // continuation bytes the current UTF-8 character still has
	c2        bool   // the last byte was 0xC2, held: U+0080-U+009F are C1 controls
	loneEsc   bool   // the last read was a lone ESC, passed on as the Esc key
}

// feed cuts in into units and hands each to emit. A read of a lone ESC is
// the Esc key, passed on at once. (An ESC at the end of a longer read is
// held: it is more likely the start of a sequence split across reads.)
func (s *sequencer) feed(in []byte, emit func(unitKind, []byte)) {
	for i, c := range in {
		if i == 0 && s.loneEsc && introducesLongSequence(c) {
			// The decoder may still take the Esc passed on last time
			// with these bytes as one sequence, and hold it however long
			// it grows; CAN keeps them apart.
			emit(unitByte, []byte{0x18})
		}
		s.step(c, emit)
	}
	s.loneEsc = len(in) == 1 && len(s.held) == 1
	if s.loneEsc {
		emit(unitSeq, s.held)
		s.held = s.held[:0]
	}
}

// introducesLongSequence reports whether c after an ESC starts a sequence
// longer than two bytes.
func introducesLongSequence(c byte) bool {
	switch c {
	case '[', 'O', ']', 'P', 'X', '^', '_':
		return true
	}
	return 0x20 <= c && c <= 0x2f
}

// step takes one byte.
func (s *sequencer) step(c byte, emit func(unitKind, []byte)) {
	switch {
	case s.skipping:
		s.skip(c, emit)
	case c == 0x1b:
		s.begin(emit)
	case len(s.held) > 0:
		s.extend(c, emit)
	default:
		s.text(c, emit)
	}
}

// text takes a byte outside escape sequences.
func (s *sequencer) text(c byte, emit func(unitKind, []byte)) {
	if s.c2 {
		s.c2 = false
		if 0x80 <= c && c <= 0x9f {
			s.utf8Left = 0
			return // U+0080-U+009F: a C1 control, such as CSI, as UTF-8
		}
		emit(unitByte, []byte{0xc2})
	}
	switch {
	case c == 0xc2:
		s.c2 = true
		s.utf8Left = 1
		return
	case c >= 0xc0:
		s.utf8Left = utf8Continuations(c)
	case c >= 0x80 && s.utf8Left > 0:
		s.utf8Left--
	case c >= 0x80 && c <= 0x9f:
		return // a C1 control, such as the one-byte CSI
	default:
		s.utf8Left = 0
	}
	emit(unitByte, []byte{c})
}

// utf8Continuations returns how many continuation bytes follow lead.
func utf8Continuations(lead byte) int {
	switch {
	case lead >= 0xf0:
		return 3
	case lead >= 0xe0:
		return 2
	}
	return 1
}

// begin starts a sequence at an ESC. A sequence already begun is
// incomplete: a lone ESC before it was the Esc key; anything longer is
// dropped.
func (s *sequencer) begin(emit func(unitKind, []byte)) {
	if s.inString && len(s.held) > 0 {
		s.stringEsc = true // perhaps ST, ESC \
		s.held = append(s.held, 0x1b)
		s.checkLength()
		return
	}
	if len(s.held) == 1 {
		emit(unitSeq, s.held)
	}
	s.held = append(s.held[:0], 0x1b)
	s.inString, s.stringEsc, s.utf8Left = false, false, 0
}

// extend adds c to the sequence begun.
func (s *sequencer) extend(c byte, emit func(unitKind, []byte)) {
	s.held = append(s.held, c)
	switch {
	case s.inString:
		if c == 0x07 || s.stringEsc && c == '\\' {
			s.complete(unitSeq, emit)
			return
		}
		if s.stringEsc { // ESC not followed by \: a new sequence begins
			s.held = append(s.held[:0], 0x1b, c)
			s.inString, s.stringEsc = false, false
			s.extendIntroducer(c, emit)
			return
		}
	case len(s.held) == 2:
		s.extendIntroducer(c, emit)
		return
	case s.held[1] == 'O': // SS3: one final byte
		s.complete(unitSeq, emit)
		return
	case s.held[1] == '[':
		s.extendCSI(c, emit)
		return
	default: // ESC, intermediates, then a final byte
		if c < 0x20 || c > 0x2f {
			s.complete(unitSeq, emit)
			return
		}
	}
	s.checkLength()
}

// extendIntroducer takes the byte after ESC.
func (s *sequencer) extendIntroducer(c byte, emit func(unitKind, []byte)) {
	switch {
	case c == '[' || c == 'O':
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		s.inString = true
	case 0x20 <= c && c <= 0x2f: // intermediates follow
	default: // Alt+key, or a two-byte escape
		s.complete(unitSeq, emit)
	}
}

// extendCSI takes a byte of a control sequence: parameters and
// intermediates, then a final byte. (The legacy mouse report, ESC [ M and
// three raw bytes, is not used: chatd asks for SGR mouse reports.)
func (s *sequencer) extendCSI(c byte, emit func(unitKind, []byte)) {
	switch {
	case 0x20 <= c && c <= 0x3f:
		s.checkLength()
	case 0x40 <= c && c <= 0x7e:
		s.complete(csiKind(s.held), emit)
	default: // not part of a sequence: the sequence is broken
		s.held = s.held[:0]
		s.step(c, emit)
	}
}

// csiKind tells paste markers from other control sequences: the final
// byte ~ with a first parameter of 200 or 201, however written.
func csiKind(seq []byte) unitKind {
	if seq[len(seq)-1] != '~' {
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

// complete hands the sequence held on.
func (s *sequencer) complete(kind unitKind, emit func(unitKind, []byte)) {
	emit(kind, s.held)
	s.held = s.held[:0]
	s.inString, s.stringEsc = false, false
}

// checkLength drops a sequence that has grown past maxSeqBytes, and the
// rest of it as it comes.
func (s *sequencer) checkLength() {
	if len(s.held) > maxSeqBytes {
		s.skipping = true
		s.held = s.held[:0]
	}
}

// skip drops bytes of an over-long sequence up to its end: a final byte,
// BEL or ST for a string, or the ESC that starts another sequence.
func (s *sequencer) skip(c byte, emit func(unitKind, []byte)) {
	switch {
	case c == 0x1b && s.inString && !s.stringEsc:
		s.stringEsc = true
	case s.inString && (c == 0x07 || s.stringEsc && c == '\\'):
		s.skipping, s.inString, s.stringEsc = false, false, false
	case s.inString && s.stringEsc: // ESC and something else: a new sequence
		s.skipping, s.inString, s.stringEsc = false, false, false
		s.held = append(s.held[:0], 0x1b)
		s.extend(c, emit)
	case c == 0x1b:
		s.skipping = false
		s.begin(emit)
	case !s.inString && 0x40 <= c && c <= 0x7e:
		s.skipping = false
	}
}
