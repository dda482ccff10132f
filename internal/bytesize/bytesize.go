package bytesize

import (
	"fmt"
	"strings"

	"github.com/dustin/go-humanize"
)

// Parse returns the number of bytes s names; see the package comment for
// the units. A fraction of a byte is dropped ("1.5KiB" is 1536, "0.5B" is
// 0); a negative size, and one past 2⁶⁴−1 bytes, is an error.
func Parse(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	// go-humanize reads the leading digits, dots and commas as the number
	// and the rest as the unit; an empty number (a sign, a word) fails in
	// strconv with a message about strconv, so say it here instead.
	if t == "" || !(t[0] >= '0' && t[0] <= '9' || t[0] == '.') {
		return 0, fmt.Errorf("byte size %q: want a number of bytes, optionally with a unit (4MiB, 512MiB, 2GiB)", s)
	}
	n, err := humanize.ParseBytes(t)
	if err != nil {
		return 0, fmt.Errorf("byte size %q: want a number of bytes, optionally with a unit (4MiB, 512MiB, 2GiB): %v", s, err)
	}
	return n, nil
}

// Format prints n for people in binary units with go-humanize's IBytes
// (two significant digits at least), less a zero decimal: "512 B",
// "1 KiB", "4 MiB", "1.2 GiB". It is for logs and messages; it may round,
// so it does not parse back to n exactly.
func Format(n uint64) string { return strings.Replace(humanize.IBytes(n), ".0 ", " ", 1) }

// Size is a byte count usable as a command-line flag (it implements
// spf13/pflag's Value, and the standard flag package's) and as a text
// value (encoding.TextUnmarshaler): all of them parse with Parse. It
// prints as Format does, without the space ("256MiB"), and 0 as "0".
type Size uint64

// Set parses s with Parse.
func (b *Size) Set(s string) error {
	n, err := Parse(s)
	if err != nil {
		return err
	}
	*b = Size(n)
	return nil
}

// String prints the size for help texts and logs.
func (b *Size) String() string {
	if b == nil || *b == 0 {
		return "0"
	}
	return strings.ReplaceAll(Format(uint64(*b)), " ", "")
}

// Type names the value in pflag's help ("--max-message-bytes size").
func (b *Size) Type() string { return "size" }

// UnmarshalText parses text with Parse.
func (b *Size) UnmarshalText(text []byte) error { return b.Set(string(text)) }
