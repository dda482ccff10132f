package bytesize

import (
	"flag"
	"testing"

	"github.com/spf13/pflag"
)

// TestParseUnits pins go-humanize's rules as this package documents them:
// units with an i are binary, units without one decimal, any case, with
// or without a space, fractions and thousands separators allowed.
func TestParseUnits(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
	}{
		{"0", 0}, {"1048576", 1 << 20}, {" 42 ", 42}, {"10B", 10}, {"10 b", 10},
		// binary (IEC)
		{"1KiB", 1 << 10}, {"1Ki", 1 << 10}, {"4MiB", 4 << 20}, {"4mib", 4 << 20}, {"4 MiB", 4 << 20},
		{"512MiB", 512 << 20}, {"2GiB", 2 << 30}, {"2Gi", 2 << 30}, {"1.5GiB", 3 << 29}, {"1TiB", 1 << 40},
		{"1PiB", 1 << 50}, {"1EiB", 1 << 60},
		// decimal (SI): K, KB and kB alike, and G is 10⁹, not 2³⁰
		{"1K", 1000}, {"1k", 1000}, {"1KB", 1000}, {"1kB", 1000}, {"500MB", 500e6}, {"500M", 500e6},
		{"2G", 2e9}, {"2GB", 2e9}, {"1T", 1e12}, {"1TB", 1e12},
		// fractions round down to whole bytes; commas separate thousands
		{"1.5KiB", 1536}, {"0.5B", 0}, {".5KiB", 512}, {"1,000", 1000}, {"1,048,576", 1 << 20},
		// large but representable
		{"15EiB", 15 << 60}, {"18446744073709551615", 1<<64 - 1}, {"1000000TiB", 1e6 * (1 << 40)},
	} {
		got, err := Parse(c.in)
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, bad := range []string{
		"", " ", "MiB", "-1", "-1GiB", "+1", "lots", "1.2.3GiB", "NaN", "Inf", "1e30TiB", "1e3",
		"4 MiBs", "4 mebibytes", "16EiB", "18446744073709551616", "1 2",
	} {
		if got, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %d, want an error", bad, got)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		in   uint64
		want string
	}{
		{0, "0 B"}, {512, "512 B"}, {1 << 10, "1 KiB"}, {4 << 20, "4 MiB"}, {3 << 19, "1.5 MiB"}, {256 << 20, "256 MiB"}, {1000 << 20, "1000 MiB"},
		{1288490188, "1.2 GiB"}, {1 << 40, "1 TiB"}, {10 << 20, "10 MiB"},
	} {
		if got := Format(c.in); got != c.want {
			t.Errorf("Format(%d) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestSizeValue: the same type serves pflag, the standard flag package and
// text decoding, all through Parse.
func TestSizeValue(t *testing.T) {
	var s Size = 256 << 20
	if s.String() != "256MiB" {
		t.Fatalf("String() = %q", s.String())
	}
	var zero Size
	if zero.String() != "0" {
		t.Fatalf("zero prints %q", zero.String())
	}

	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.Var(&s, "size", "")
	if fs.Lookup("size").Value.Type() != "size" {
		t.Fatalf("pflag type %q", fs.Lookup("size").Value.Type())
	}
	if err := fs.Parse([]string{"--size", "4MiB"}); err != nil || s != 4<<20 {
		t.Fatalf("pflag: %d, %v", s, err)
	}
	if err := fs.Parse([]string{"--size", "two"}); err == nil {
		t.Fatal("pflag: bad size accepted")
	}

	std := flag.NewFlagSet("x", flag.ContinueOnError)
	std.SetOutput(new(discard))
	std.Var(&s, "size", "")
	if err := std.Parse([]string{"-size", "2GiB"}); err != nil || s != 2<<30 {
		t.Fatalf("flag: %d, %v", s, err)
	}

	if err := s.UnmarshalText([]byte("1.5KiB")); err != nil || s != 1536 {
		t.Fatalf("UnmarshalText: %d, %v", s, err)
	}
	if err := s.UnmarshalText([]byte("-1")); err == nil {
		t.Fatal("UnmarshalText: -1 accepted")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
