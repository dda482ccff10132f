// Package layering holds the test that keeps imports pointing down the
// package list of docs/ARCHITECTURE.md §7.
package layering

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/warrenmq/warren"

// allowed lists, per package, the Warren packages it may depend on
// (directly or not): the direction of ARCHITECTURE §7,
//
//	cmd/node ─► transport ─► broker ─► dispatch ─► fsm ─► routing
//	   │           │           │  └──► cluster ─► cluster/raftgroup ─► cluster/raftgroup/segmentlog
//	   │           └──► access ┴─────────────────► fsm
//	   ├──► observe ─► broker, cluster, access (beside transport, never importing it)
//	   └──► manage ─► broker, access (beside transport and observe, importing neither)
//
// The generated API (transport/warrenpb) and log format (fsm/fsmpb) are
// leaves. cluster/raftgroup imports nothing of Warren but its own log
// store, cluster/raftgroup/segmentlog, a leaf; broker/bodystore (the
// queue groups' body files) is a leaf below broker; cluster does not
// import broker (it uses fsm only for its error sentinels,
// internal/certs to read a peer's node id, and internal/version to gossip
// the build it runs); nothing but
// cmd and the in-process harness imports transport.
var allowed = map[string][]string{
	"routing":                      {},
	"fsm/fsmpb":                    {},
	"transport/warrenpb":           {},
	"cluster/raftgroup/segmentlog": {"internal/fsync"},
	"broker/bodystore":             {"internal/fsync"}, // a queue group's body files: a leaf but for fsync
	"cluster/raftgroup":            {"cluster/raftgroup/segmentlog", "internal/fsync"},
	"fsm":                          {"routing", "fsm/fsmpb"},
	"dispatch":                     {"fsm", "routing", "fsm/fsmpb"},
	"cluster":                      {"cluster/raftgroup", "cluster/raftgroup/segmentlog", "internal/fsync", "fsm", "routing", "fsm/fsmpb", "transport/warrenpb", "internal/certs", "internal/version"},
	"internal/password":            {},
	"internal/fsync":               {}, // fdatasync and directory fsync: x/sys only
	"internal/bytesize":            {}, // sizes of options: go-humanize only
	"internal/watermark":           {"internal/bytesize"},
	"access":                       {"fsm", "routing", "fsm/fsmpb", "internal/password"},
	"broker":                       {"broker/bodystore", "cluster", "cluster/raftgroup", "cluster/raftgroup/segmentlog", "internal/fsync", "dispatch", "fsm", "routing", "fsm/fsmpb", "transport/warrenpb", "internal/certs", "internal/password", "internal/version"},
	"transport":                    {"access", "broker", "broker/bodystore", "cluster", "cluster/raftgroup", "cluster/raftgroup/segmentlog", "internal/fsync", "dispatch", "fsm", "routing", "fsm/fsmpb", "transport/warrenpb", "internal/certs", "internal/password", "internal/version"},
	"observe":                      {"access", "broker", "broker/bodystore", "cluster", "cluster/raftgroup", "cluster/raftgroup/segmentlog", "internal/fsync", "dispatch", "fsm", "routing", "fsm/fsmpb", "transport/warrenpb", "internal/certs", "internal/password", "internal/version", "internal/watermark", "internal/bytesize"},
	"manage":                       {"access", "broker", "broker/bodystore", "cluster", "cluster/raftgroup", "cluster/raftgroup/segmentlog", "internal/fsync", "dispatch", "fsm", "routing", "fsm/fsmpb", "transport/warrenpb", "internal/certs", "internal/password", "internal/version", "internal/watermark", "internal/bytesize"},
	"client":                       {"transport/warrenpb"},
	"transport/amqp/wire":          {}, // AMQP framing: standard library only
	"transport/amqp":               {"transport/amqp/wire", "access", "broker", "broker/bodystore", "cluster", "cluster/raftgroup", "cluster/raftgroup/segmentlog", "internal/fsync", "dispatch", "fsm", "routing", "fsm/fsmpb", "transport/warrenpb", "internal/certs", "internal/password", "internal/version"},
	"transport/transporttest":      {"transport", "access", "broker", "broker/bodystore", "cluster", "cluster/raftgroup", "cluster/raftgroup/segmentlog", "internal/fsync", "dispatch", "fsm", "routing", "fsm/fsmpb", "transport/warrenpb", "internal/certs", "internal/password", "internal/version"},
	"chaos/check":                  {}, // pure history checker: standard library only
	"chaos":                        {"chaos/check", "client", "internal/freeport", "internal/netlab", "transport/warrenpb"},
	"internal/freeport":            {}, // loopback ports for harnesses: net only
}

// direct lists, for packages that adapt a lower layer, the only Warren
// packages they may import themselves: transport speaks gRPC to the
// broker's own types and never builds log records (fsm/fsmpb) or reaches
// into the state machines, the dispatcher or a Raft group.
var direct = map[string][]string{
	"transport": {"access", "broker", "cluster", "transport/warrenpb"},
	// observe reads the broker, the cluster and the watermark monitor,
	// and authenticates with access; it sees the client port only
	// through what cmd/node hands it (Config.Clients, transport.Observer
	// met by its Server), never transport itself.
	"observe": {"access", "broker", "cluster", "internal/version", "internal/watermark"},
	// manage, the management API and UI, sits on the broker as transport
	// does and decides with access's per-operation needs (the gRPC API's);
	// fsm only for its error sentinels, warrenpb only to proxy a get to a
	// queue's leader as transport does. Never cluster: the members and
	// groups it shows come through broker.Node().
	"manage": {"access", "broker", "fsm", "transport/warrenpb", "internal/version", "internal/watermark"},
	// The AMQP port is the gRPC port's sibling on the broker: access for
	// logins and permissions, warrenpb only to proxy a consume or get to
	// a queue's leader (as transport/forward.go does); never transport,
	// cluster or the state machines.
	"transport/amqp": {"transport/amqp/wire", "access", "broker", "transport/warrenpb"},
}

func TestImportsPointDown(t *testing.T) {
	for pkg, ok := range allowed {
		deps := warrenDeps(t, pkg)
		permitted := map[string]bool{pkg: true}
		for _, p := range ok {
			permitted[p] = true
		}
		for _, d := range deps {
			if !permitted[d] {
				t.Errorf("%s imports %s, against the direction of ARCHITECTURE §7", pkg, d)
			}
		}
	}
}

// TestDirectImports holds the adapters to the layer right below them.
func TestDirectImports(t *testing.T) {
	for pkg, ok := range direct {
		out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, module+"/"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, imp := range strings.Fields(string(out)) {
			rel, ours := strings.CutPrefix(imp, module+"/")
			if ours && !slices.Contains(ok, rel) {
				t.Errorf("%s imports %s directly; it may import only %v", pkg, rel, ok)
			}
		}
	}
}

// TestEveryPackageIsListed makes a new package decide its place.
func TestEveryPackageIsListed(t *testing.T) {
	out, err := exec.Command("go", "list", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(strings.TrimPrefix(line, module), "/")
		if rel == "" || strings.HasPrefix(rel, "cmd/") || strings.HasPrefix(rel, "internal/") || strings.HasPrefix(rel, "e2e") {
			continue
		}
		if _, ok := allowed[rel]; !ok {
			t.Errorf("package %s has no entry in the layering table", rel)
		}
	}
}

func warrenDeps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+"/"+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	var deps []string
	for _, line := range strings.Fields(string(out)) {
		if strings.HasPrefix(line, module+"/") {
			deps = append(deps, strings.TrimPrefix(line, module+"/"))
		}
	}
	return deps
}
