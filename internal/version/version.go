// Package version says which build of Warren is running: the module
// version, the VCS commit and its time, whether the work tree was
// modified, and the Go version — from runtime/debug.ReadBuildInfo, with the
// version string overridable at link time:
//
//	go build -ldflags "-X github.com/warrenmq/warren/internal/version.version=v1.2.3" ./cmd/node
//
// warren-node --version and warren version print it, and every node
// gossips Short() so that `warren cluster status` shows what each member
// runs (a rolling upgrade in progress shows two versions).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// version, when set by -ldflags -X, replaces the module version that the
// build info carries (which is "(devel)" for a build from a work tree).
var version string

// MaxShortLen bounds Short: it travels in the node's gossip meta, which
// memberlist caps at 512 bytes for everything.
const MaxShortLen = 64

// Info describes the running binary.
type Info struct {
	// Version is the -ldflags override, else the main module's version
	// ("v1.2.3", a pseudo-version), else "devel".
	Version string `json:"version"`
	// Commit is the VCS revision the binary was built from, "" when the
	// build had no VCS information (-buildvcs=false, a module download).
	Commit string `json:"commit,omitempty"`
	// CommitTime is the revision's commit time (RFC 3339), "" when unknown.
	CommitTime string `json:"commit_time,omitempty"`
	// Modified: the work tree had changes not in Commit.
	Modified bool `json:"modified,omitempty"`
	// GoVersion is the toolchain that built the binary ("go1.26.8").
	GoVersion string `json:"go_version"`
}

var (
	once sync.Once
	info Info
)

// Get returns the running binary's Info (read once).
func Get() Info {
	once.Do(func() { info = read(version) })
	return info
}

func read(override string) Info {
	i := Info{Version: "devel", GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			i.Version = v
		}
		if bi.GoVersion != "" {
			i.GoVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				i.Commit = s.Value
			case "vcs.time":
				i.CommitTime = s.Value
			case "vcs.modified":
				i.Modified = s.Value == "true"
			}
		}
	}
	if override != "" {
		i.Version = override
	}
	return i
}

// Short is the version in one token, as gossiped and shown per member in
// `warren cluster status`: Version, plus "+" and the commit's first 12
// hex digits when the commit is known and Version does not already name it
// (a pseudo-version does), plus ".dirty" for a modified tree. At most
// MaxShortLen bytes.
func (i Info) Short() string {
	s := i.Version
	if c := i.Commit; c != "" {
		c = c[:min(12, len(c))]
		if !strings.Contains(s, c) {
			s += "+" + c
		}
	}
	if i.Modified {
		s += ".dirty"
	}
	if len(s) > MaxShortLen {
		s = s[:MaxShortLen]
	}
	return s
}

// String is the long form, one line: "v1.2.3 (commit 4dac8f030d15, 2026-12-04T23:25:10Z, modified) go1.26.8".
func (i Info) String() string {
	var parts []string
	if i.Commit != "" {
		parts = append(parts, "commit "+i.Commit[:min(12, len(i.Commit))])
	}
	if i.CommitTime != "" {
		parts = append(parts, i.CommitTime)
	}
	if i.Modified {
		parts = append(parts, "modified")
	}
	s := i.Version
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return fmt.Sprintf("%s %s", s, i.GoVersion)
}
