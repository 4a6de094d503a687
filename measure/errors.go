package measure

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// Sentinel errors wrapped by ParseError.
var (
	ErrTruncated       = errors.New("truncated entry")
	ErrTooLong         = errors.New("length exceeds limit")
	ErrUnknownTemplate = errors.New("unknown template")
	ErrBadPCR          = errors.New("PCR index out of range")
	ErrByteOrder       = errors.New("cannot detect byte order")
	ErrFields          = errors.New("template data does not match the template's fields")
	ErrSyntax          = errors.New("syntax error")
)

// ParseError reports a bad measurement list entry: Entry is its 0-based
// index, Offset the byte offset (binary) or line number (ASCII, with Line
// set) where the problem was found.
type ParseError struct {
	Offset int64
	Entry  int
	Line   bool // Offset is a 1-based line number
	Err    error
}

func (e *ParseError) Error() string {
	where := "offset"
	if e.Line {
		where = "line"
	}
	return fmt.Sprintf("measurement list entry %d at %s %d: %v", e.Entry, where, e.Offset, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// ReplayError reports a bank whose replayed PCR does not equal the quoted
// value. Index is the number of entries replayed (the replay's final state).
type ReplayError struct {
	Bank  Algo
	Mode  Mode
	PCR   int
	Want  []byte
	Got   []byte
	Index int
}

func (e *ReplayError) Error() string {
	return fmt.Sprintf("%s bank PCR %d (%s replay): after %d entries got %s, want %s",
		e.Bank, e.PCR, e.Mode, e.Index, hex.EncodeToString(e.Got), hex.EncodeToString(e.Want))
}
