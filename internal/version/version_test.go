package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestOverrideWins(t *testing.T) {
	i := read("v9.9.9-test")
	if i.Version != "v9.9.9-test" {
		t.Fatalf("Version = %q, want the override", i.Version)
	}
	if i.GoVersion == "" || !strings.HasPrefix(i.GoVersion, "go") {
		t.Fatalf("GoVersion = %q", i.GoVersion)
	}
	if !strings.Contains(i.String(), "v9.9.9-test") || !strings.Contains(i.String(), i.GoVersion) {
		t.Fatalf("String() = %q", i.String())
	}
}

func TestWithoutOverride(t *testing.T) {
	i := read("")
	if i.Version == "" {
		t.Fatal("empty Version")
	}
	if i.GoVersion != runtime.Version() && !strings.HasPrefix(i.GoVersion, "go") {
		t.Fatalf("GoVersion = %q", i.GoVersion)
	}
}

func TestShort(t *testing.T) {
	cases := []struct {
		in   Info
		want string
	}{
		{Info{Version: "v1.2.3"}, "v1.2.3"},
		{Info{Version: "devel", Commit: "4dac8f030d15aaaaaaaa", Modified: true}, "devel+4dac8f030d15.dirty"},
		{Info{Version: "v0.0.0-20261204232510-4dac8f030d15", Commit: "4dac8f030d15aaaaaaaa"}, "v0.0.0-20261204232510-4dac8f030d15"},
		{Info{Version: strings.Repeat("x", 100)}, strings.Repeat("x", MaxShortLen)},
	}
	for _, c := range cases {
		if got := c.in.Short(); got != c.want {
			t.Errorf("%+v.Short() = %q, want %q", c.in, got, c.want)
		}
	}
}
