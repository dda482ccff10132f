package broker

import (
	"fmt"

	"cmp"
	"slices"

	"github.com/warrenmq/warren/fsm"

	"github.com/hashicorp/raft"
	"github.com/warrenmq/warren/cluster"
	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/fsm/fsmpb"
)

// sizeRuleVersion is the first FSM version (cluster.FSMVersion) that
// applies Enqueue.size_rule SIZE_RULE_WITH_HEADERS: headers and properties
// count toward max-length-bytes (fsm.MessageSize).
const sizeRuleVersion = 2

// sizeRuleGate picks the size rule of a queue group's Enqueues. A build
// from before the rule ignores the field and would count bodies alone, so
// its replicas would keep other messages than the others (STYLE §2): the
// rule is used only once every server of the group's configuration
// gossips sizeRuleVersion or later. Until then entries say
// SIZE_RULE_BODY, which every build applies alike. Once open the gate
// stays open for the life of the process: a node of an older build must
// not rejoin a group that has used the rule (a downgrade is not
// supported past a new rule, as past a new command type).
type sizeRuleGate struct {
	gate versionGate // at sizeRuleVersion
}

func newSizeRuleGate(node *cluster.Node, g *raftgroup.Group) *sizeRuleGate {
	return &sizeRuleGate{gate: versionGate{node: node, group: g, version: sizeRuleVersion}}
}

// rule returns the size rule for the next Enqueue of the group. Until the
// gate opens it reads the group's configuration and the members gossip
// knows (a few servers: cheap next to the Raft entry it goes into).
func (s *sizeRuleGate) rule() fsmpb.SizeRule {
	if s.gate.ok() {
		return fsmpb.SizeRule_SIZE_RULE_WITH_HEADERS
	}
	return fsmpb.SizeRule_SIZE_RULE_BODY
}

// groupAtVersion reports whether every server of g's configuration is at
// FSM version v or later (serversAtVersion).
func groupAtVersion(g *raftgroup.Group, members []cluster.Member, v uint32) bool {
	servers, err := g.Configuration()
	return err == nil && serversAtVersion(servers, members, v)
}

// serversAtVersion reports whether servers is not empty and each, voter
// or not, is among members (sorted by id, as cluster.Node.Members returns
// them) with an FSM version of at least v. A server gossip does not know
// yet counts as older.
func serversAtVersion(servers []raft.Server, members []cluster.Member, v uint32) bool {
	if len(servers) == 0 {
		return false
	}
	for _, srv := range servers {
		i, ok := slices.BinarySearchFunc(members, string(srv.ID), func(m cluster.Member, id string) int {
			return cmp.Compare(m.ID, id)
		})
		if !ok || members[i].FSMVersion < v {
			return false
		}
	}
	return true
}

// requireMetaVersion refuses what needs FSM version featuresVersion
// (feature names it) while a server of the meta group's configuration
// gossips an older one: an older build would ignore the new field and
// apply the command otherwise than the others (STYLE §2). It asks the
// same gate as declarations' args_level (metaGate). A broker without a
// node (unit tests) has no older peers.
func (b *Broker) requireMetaVersion(feature string) error {
	if b.node == nil || b.meta == nil || b.metaGate.ok() {
		return nil
	}
	return fmt.Errorf("%w: %s: every server of the cluster must run FSM version %d or later first", fsm.ErrPrecondition, feature, featuresVersion)
}
