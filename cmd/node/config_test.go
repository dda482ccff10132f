package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parseFlags runs warren-node's command line with the environment environ
// (NAME=value) and returns the options it would serve with.
func parseFlags(args []string, environ ...string) (*flags, error) {
	var got *flags
	var stderr bytes.Buffer
	code := execute(args, environ, io.Discard, &stderr, func(f *flags) error {
		got = f
		return nil
	})
	if code != 0 {
		return nil, errors.New(strings.TrimSpace(stderr.String()))
	}
	return got, nil
}

// writeConfig writes a config file into a temporary directory.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "node.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPrecedence: for options of every kind, a flag wins over its
// variable, the variable over the file, and the file over the default;
// the three sources use the same names.
func TestPrecedence(t *testing.T) {
	type pick func(f *flags) any
	opts := []struct {
		name               string
		file, env, flag    string // the file's value is TOML
		fileV, envV, flagV any
		def                any
		get                pick
	}{
		{"id", `"from-file"`, "from-env", "from-flag", "from-file", "from-env", "from-flag", "node1",
			func(f *flags) any { return f.broker.Cluster.NodeID }},
		{"bootstrap-expect", `3`, "5", "1", 3, 5, 1, 1,
			func(f *flags) any { return f.broker.Cluster.BootstrapExpect }},
		{"session-grace", `"2s"`, "3s", "4s", 2 * time.Second, 3 * time.Second, 4 * time.Second, 5 * time.Second,
			func(f *flags) any { return f.broker.SessionGrace }},
		{"per-queue-metrics", `false`, "true", "false", false, true, false, true,
			func(f *flags) any { return f.perQueue }},
		{"http-ui", `false`, "true", "false", false, true, false, true,
			func(f *flags) any { return f.httpUI }},
		{"max-message-bytes", `"1MiB"`, "2MiB", "3MiB", uint64(1 << 20), uint64(2 << 20), uint64(3 << 20), uint64(4 << 20),
			func(f *flags) any { return uint64(f.maxMsg) }},
		{"join", `["a:1", "b:2"]`, "c:3,d:4", "e:5", "a:1,b:2", "c:3,d:4", "e:5", "",
			func(f *flags) any { return strings.Join(f.broker.Cluster.Join, ",") }},
		{"loopback-users", `["ops"]`, "ci", "", "ops", "ci", "", "guest",
			func(f *flags) any { return strings.Join(f.security.loopbackUsers, ",") }},
	}
	for _, o := range opts {
		t.Run(o.name, func(t *testing.T) {
			cfg := writeConfig(t, o.name+" = "+o.file+"\n")
			env := envName(o.name) + "=" + o.env
			flag := "--" + o.name + "=" + o.flag
			for _, c := range []struct {
				what    string
				args    []string
				environ []string
				want    any
			}{
				{"default", nil, nil, o.def},
				{"file", []string{"--config", cfg}, nil, o.fileV},
				{"environment over file", []string{"--config", cfg}, []string{env}, o.envV},
				{"flag over environment and file", []string{"--config", cfg, flag}, []string{env}, o.flagV},
				{"flag over file", []string{"--config", cfg, flag}, nil, o.flagV},
				{"WARREN_CONFIG names the file", nil, []string{"WARREN_CONFIG=" + cfg}, o.fileV},
			} {
				f, err := parseFlags(c.args, c.environ...)
				if err != nil {
					t.Fatalf("%s: %v", c.what, err)
				}
				if got := o.get(f); got != c.want {
					t.Errorf("%s: %s = %v, want %v", c.what, o.name, got, c.want)
				}
			}
		})
	}
}

// TestSizesParseAlike: every size option takes the same units from every
// source (bytesize: KiB/MiB binary, kB/MB and k/M decimal).
func TestSizesParseAlike(t *testing.T) {
	for _, name := range []string{"max-message-bytes", "memory-high-watermark", "disk-free-low-watermark"} {
		get := func(f *flags) uint64 {
			switch name {
			case "max-message-bytes":
				return uint64(f.maxMsg)
			case "memory-high-watermark":
				return uint64(f.memHigh)
			}
			return uint64(f.diskLow)
		}
		for text, want := range map[string]uint64{"4MiB": 4 << 20, "4 mib": 4 << 20, "4194304": 4 << 20, "4MB": 4e6, "4M": 4e6, "1.5MiB": 3 << 19} {
			for _, src := range []struct {
				what    string
				args    []string
				environ []string
			}{
				{"flag", []string{"--" + name, text}, nil},
				{"environment", nil, []string{envName(name) + "=" + text}},
				{"file", []string{"--config", writeConfig(t, name+` = "`+text+`"`)}, nil},
			} {
				f, err := parseFlags(src.args, src.environ...)
				if err != nil {
					t.Fatalf("%s %s %q: %v", src.what, name, text, err)
				}
				if got := get(f); got != want {
					t.Errorf("%s %s %q = %d, want %d", src.what, name, text, got, want)
				}
			}
		}
		// A TOML integer is a number of bytes.
		f, err := parseFlags([]string{"--config", writeConfig(t, name+" = 1048576")})
		if err != nil || get(f) != 1<<20 {
			t.Errorf("file %s = 1048576: %v", name, err)
		}
	}
	if _, err := parseFlags([]string{"--max-message-bytes", "65MiB"}); err == nil || !strings.Contains(err.Error(), "--max-message-bytes must be 1 byte to 64MiB") {
		t.Errorf("--max-message-bytes 65MiB: %v", err)
	}
}

// TestConfigFileRefusesUnknownKeys: a key that is no option is an error
// naming it, never silently ignored; so are options a file must not set.
func TestConfigFileRefusesUnknownKeys(t *testing.T) {
	cfg := writeConfig(t, `
id = "n1"
data_dir = "/var/lib/warren"
Zone = "a"
version = true
config = "/etc/other.toml"

[tls]
cert = "x.pem"
`)
	_, err := parseFlags([]string{"--config", cfg})
	want := "config file " + cfg + ": unknown keys Zone, config, data_dir, tls.cert, version"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want an error saying %q", err, want)
	}
	if !strings.Contains(err.Error(), "Run 'warren-node --help'") {
		t.Errorf("a config error is a usage error: %v", err)
	}
}

func TestConfigFileErrors(t *testing.T) {
	for _, c := range []struct{ name, text, want string }{
		{"syntax", "id = \"n1\"\nzone = \n", "line 2, column 8"},
		{"duplicate key", "id = \"a\"\nid = \"b\"\n", "line 2"},
		{"duration without unit", "session-grace = 5\n", "session-grace: invalid argument \"5\""},
		{"bad size", "max-message-bytes = \"4 lots\"\n", "max-message-bytes: invalid argument \"4 lots\""},
		{"bad bool", "no-auth = \"maybe\"\n", "no-auth: invalid argument \"maybe\""},
		{"list for one value", "id = [\"a\", \"b\"]\n", "id: a list, but --id takes one value"},
		{"table for one value", "id = { name = \"a\" }\n", "unknown key id.name"},
		{"comma in a list item", "join = [\"a:1,b:2\"]\n", "holds a comma"},
		{"negative size", "disk-free-low-watermark = -1\n", "disk-free-low-watermark: invalid argument \"-1\""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseFlags([]string{"--config", writeConfig(t, c.text)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error saying %q", err, c.want)
			}
		})
	}
	_, err := parseFlags([]string{"--config", "/nonexistent/node.toml"})
	if err == nil || !strings.Contains(err.Error(), "config file /nonexistent/node.toml") {
		t.Fatalf("missing file: %v", err)
	}
}

// TestEnvironment: only WARREN_<OPTION> in its canonical spelling sets an
// option; the CLI's and the tests' variables (same prefix) are left alone,
// and so are the actions --version and --help.
func TestEnvironment(t *testing.T) {
	f, err := parseFlags(nil,
		"WARREN_SERVER=10.0.0.1:5680", "WARREN_USER=alice", "WARREN_TEST_TIMEOUT_SCALE=3",
		"WARREN_VERSION=v1.2.3", "WARREN_HELP=1", "warren_zone=lower", "WARREN_Zone=mixed",
		"WARREN_DATA_DIR=/srv/warren", "WARREN_NO_AUTH=1", "WARREN_HTTP_ADDR=", "PATH=/usr/bin")
	if err != nil {
		t.Fatal(err)
	}
	if f.version || f.broker.Cluster.Zone != "" {
		t.Errorf("version %t, zone %q: set by a variable that names no option", f.version, f.broker.Cluster.Zone)
	}
	if f.broker.Cluster.DataDir != "/srv/warren" || !f.security.noAuth || f.httpAddr != "" {
		t.Errorf("data dir %q, no-auth %t, http %q", f.broker.Cluster.DataDir, f.security.noAuth, f.httpAddr)
	}
	if got := strings.Join(f.sources.fromEnv, ","); got != "WARREN_DATA_DIR,WARREN_HTTP_ADDR,WARREN_NO_AUTH" {
		t.Errorf("sources: %s", got)
	}
	_, err = parseFlags(nil, "WARREN_SESSION_GRACE=soon")
	if err == nil || !strings.Contains(err.Error(), "environment variable WARREN_SESSION_GRACE: invalid argument \"soon\"") {
		t.Errorf("bad variable: %v", err)
	}
}

// run runs warren-node's command line and returns its exit status and
// output; the node is not started.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = execute(args, nil, &out, &errOut, func(*flags) error { return nil })
	return code, out.String(), errOut.String()
}

// TestHelpPrintsEachDefaultOnce: the memory watermark's computed default is
// explained once (issue 10: "--memory-high-watermark --help" printed it
// twice), and --help after a flag that wants a value still asks for help.
func TestHelpPrintsEachDefaultOnce(t *testing.T) {
	code, out, errOut := run(t, "--memory-high-watermark", "--help")
	if code != 0 || errOut != "" {
		t.Fatalf("--memory-high-watermark --help: exit %d, stderr %q", code, errOut)
	}
	if _, plain, _ := run(t, "--help"); plain != out {
		t.Errorf("--help and --memory-high-watermark --help differ")
	}
	for _, name := range []string{"memory-high-watermark", "disk-free-low-watermark", "max-message-bytes", "join", "config"} {
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "--"+name+" ") {
				line = l
			}
		}
		if line == "" {
			t.Fatalf("--help lists no --%s:\n%s", name, out)
		}
		if n := strings.Count(strings.ToLower(line), "default"); n > 1 {
			t.Errorf("--%s names its default %d times: %s", name, n, line)
		}
	}
	if !strings.Contains(out, "--max-message-bytes size") || !strings.Contains(out, "(default 4MiB)") {
		t.Errorf("--max-message-bytes is not shown as a size defaulting to 4MiB:\n%s", out)
	}
	if !strings.Contains(out, "WARREN_DATA_DIR") {
		t.Errorf("--help does not explain the environment:\n%s", out)
	}
}

// TestBadFlagPrintsItsErrorOnce: issue 10, a bad flag printed its error
// twice (once by the flag package, once by main).
func TestBadFlagPrintsItsErrorOnce(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"--queue-groups", "many"}, `invalid argument "many" for "--queue-groups"`},
		{[]string{"-id", "n1"}, "(long options take two dashes: --id)"},
		{[]string{"--id", "n1", "extra"}, `unexpected arguments: ["extra"]`},
		{[]string{"--log-format", "xml"}, "--log-format must be text or json"},
		{[]string{"--log-level", "loud"}, "--log-level must be trace"},
	} {
		code, out, errOut := run(t, c.args...)
		if code != 2 || out != "" {
			t.Errorf("%q: exit %d, stdout %q; want 2 and nothing", c.args, code, out)
		}
		if n := strings.Count(errOut, c.want); n != 1 {
			t.Errorf("%q: stderr names %q %d times:\n%s", c.args, c.want, n, errOut)
		}
		if n := strings.Count(errOut, "warren-node:"); n != 1 {
			t.Errorf("%q: %d error lines:\n%s", c.args, n, errOut)
		}
		if strings.Contains(errOut, "Flags:") {
			t.Errorf("%q: the usage is printed on an error:\n%s", c.args, errOut)
		}
	}
	// The node's own failure is exit status 1, printed once.
	var errOut bytes.Buffer
	code := execute(nil, nil, io.Discard, &errOut, func(*flags) error { return errors.New("boom") })
	if code != 1 || errOut.String() != "warren-node: boom\n" {
		t.Errorf("a failing node: exit %d, stderr %q", code, errOut.String())
	}
}

// TestVersionFlagReadsNoConfig: --version prints and exits, whatever the
// config file holds.
func TestVersionFlagReadsNoConfig(t *testing.T) {
	code, out, errOut := run(t, "--version", "--config", "/nonexistent/node.toml")
	if code != 0 || !strings.HasPrefix(out, "warren-node ") || errOut != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestRaftTimingMultiplier: --raft-timing-multiplier scales the heartbeat,
// election and lease timeouts of every group from any source, and a value
// out of range (or not a number) is refused with the option's name.
func TestRaftTimingMultiplier(t *testing.T) {
	f, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if g := f.broker.Cluster.Group; g.HeartbeatTimeout != time.Second || g.ElectionTimeout != time.Second || g.LeaderLeaseTimeout != 500*time.Millisecond {
		t.Errorf("default timings %v %v %v, want 1s 1s 500ms", g.HeartbeatTimeout, g.ElectionTimeout, g.LeaderLeaseTimeout)
	}
	for _, args := range [][]string{
		{"--raft-timing-multiplier", "2.5"},
		{"--config", writeConfig(t, "raft-timing-multiplier = 2.5")},
	} {
		f, err := parseFlags(args)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if g := f.broker.Cluster.Group; g.HeartbeatTimeout != 2500*time.Millisecond || g.ElectionTimeout != 2500*time.Millisecond || g.LeaderLeaseTimeout != 1250*time.Millisecond || g.CommitTimeout != 50*time.Millisecond {
			t.Errorf("%v: timings %+v", args, g)
		}
	}
	for _, bad := range []string{"0.1", "11", "0", "-1", "NaN", "fast"} {
		if _, err := parseFlags([]string{"--raft-timing-multiplier", bad}); err == nil || !strings.Contains(err.Error(), "raft-timing-multiplier") {
			t.Errorf("--raft-timing-multiplier %s: %v, want a refusal naming the option", bad, err)
		}
	}
}
