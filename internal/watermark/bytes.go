package watermark

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// unitSizes lists the suffixes ParseBytes accepts, case-insensitively.
// K, M, G and T are binary, as in most tools' memory flags.
var unitSizes = []struct {
	suffix string
	size   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// ParseBytes parses a byte count: a plain number of bytes ("1048576") or a
// number with a unit ("512MiB", "1.5GiB", "2G", "500MB"). KiB, MiB, GiB,
// TiB and K, M, G, T are powers of 1024; KB, MB, GB, TB powers of 1000.
func ParseBytes(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	lower := strings.ToLower(t)
	mult := 1.0
	for _, u := range unitSizes {
		if strings.HasSuffix(lower, u.suffix) {
			mult = u.size
			t = strings.TrimSpace(t[:len(t)-len(u.suffix)])
			break
		}
	}
	if t == "" {
		return 0, fmt.Errorf("byte size %q: no number", s)
	}
	if n, err := strconv.ParseUint(t, 10, 64); err == nil && mult == 1 {
		return n, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("byte size %q: want a number of bytes, optionally with a unit (512MiB, 2GiB)", s)
	}
	v := f * mult
	if v >= math.MaxUint64 {
		return 0, fmt.Errorf("byte size %q is too large", s)
	}
	return uint64(v), nil
}

// FormatBytes writes n for people: "1.2 GiB", "256 MiB", "512 B".
func FormatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + []string{"KiB", "MiB", "GiB", "TiB", "PiB"}[i]
}

// Bytes is a byte count usable as a flag.Value: it parses with ParseBytes
// and prints with FormatBytes (0 prints "0").
type Bytes uint64

// Set implements flag.Value.
func (b *Bytes) Set(s string) error {
	n, err := ParseBytes(s)
	if err != nil {
		return err
	}
	*b = Bytes(n)
	return nil
}

// String implements flag.Value.
func (b *Bytes) String() string {
	if b == nil || *b == 0 {
		return "0"
	}
	return strings.ReplaceAll(FormatBytes(uint64(*b)), " ", "")
}
