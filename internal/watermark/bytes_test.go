package watermark

import (
	"flag"
	"testing"
)

func TestParseBytes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
	}{
		{"0", 0}, {"1048576", 1 << 20}, {"512MiB", 512 << 20}, {"2GiB", 2 << 30}, {"2gib", 2 << 30},
		{"1.5GiB", 3 << 29}, {"64 KiB", 64 << 10}, {"2G", 2 << 30}, {"256M", 256 << 20}, {"500MB", 500e6},
		{"1KB", 1000}, {"10B", 10}, {"1TiB", 1 << 40},
	} {
		got, err := ParseBytes(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "-1GiB", "lots", "1.2.3GiB", "NaN", "1e30TiB"} {
		if got, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) = %d, want an error", bad, got)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for _, c := range []struct {
		in   uint64
		want string
	}{
		{0, "0 B"}, {512, "512 B"}, {1 << 10, "1 KiB"}, {256 << 20, "256 MiB"}, {1288490188, "1.2 GiB"}, {1 << 40, "1 TiB"},
	} {
		if got := FormatBytes(c.in); got != c.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestBytesFlag(t *testing.T) {
	var b Bytes = 256 << 20
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Var(&b, "size", "")
	if b.String() != "256MiB" {
		t.Fatalf("default prints %q", b.String())
	}
	if err := fs.Parse([]string{"--size", "2GiB"}); err != nil || b != 2<<30 {
		t.Fatalf("parse: %d, %v", b, err)
	}
	if err := fs.Parse([]string{"--size", "two"}); err == nil {
		t.Fatal("bad size accepted")
	}
}
