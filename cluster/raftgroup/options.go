package raftgroup

import (
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// maxGroupNameLen bounds group names: they are directory names and mux
// header ids, and short names keep both cheap.
const maxGroupNameLen = 64

// Options configures Open. Name, NodeID, DataDir, FSM and Layer
// are required.
type Options struct {
	// Name is the group id: "meta", "q0", "q1", .... It is the mux group
	// id, the directory <DataDir>/groups/<Name>/ and the logger name
	// warren.raft.<Name>. 1–64 characters from [A-Za-z0-9_.-], not
	// starting with a dot.
	Name string
	// NodeID is this node's raft.ServerID, the same in every group and
	// stable across restarts.
	NodeID string
	// DataDir is the node's data directory.
	DataDir string
	// FSM is the group's state machine. If it also implements
	// raft.BatchingFSM, Raft applies entries in batches.
	// raft.ConfigurationStore is not supported.
	FSM raft.FSM
	// Layer is the group's stream layer, normally Mux.Layer(Name). The
	// Group owns it from the call to Open on: it is closed by
	// Shutdown, or by Open itself when that fails.
	Layer raft.StreamLayer
	// Config holds the Raft timings; it must pass Validate.
	Config Config
	// Logger is the parent logger; the group logs as warren.raft.<Name>
	// with the keys group and node. Nil discards logs.
	Logger hclog.Logger

	// Bootstrap makes Open bootstrap the group when it has no state on
	// disk (no log, no vote, no snapshot). With state on disk it is
	// ignored, so a node can pass true on every start.
	Bootstrap bool
	// BootstrapServers is the initial configuration used by Bootstrap. It
	// must list this node as a voter. Empty means this node alone, as a
	// single voter at Layer.Addr().
	BootstrapServers []raft.Server

	// OnLeadership, if set, is called with true when this node becomes the
	// group's leader and with false when it stops being leader. Calls come
	// from one goroutine per group, in order, and alternate: a true seen
	// while already leader (leadership lost and regained between two
	// notifications) is reported as false then true, and a group that
	// shuts down as leader reports a final false. Raft blocks its own
	// state changes once 16 notifications are pending, so the callback
	// should start work elsewhere rather than do it; it must not call
	// Shutdown of the same group, which waits for the callback.
	OnLeadership func(isLeader bool)

	// LogStore chooses the store of the group's Raft log; LogStoreAuto
	// (the zero value) opens what the directory holds, or DefaultLogStore
	// in a new one. A directory holding the other store is refused
	// (ErrLogStoreMismatch).
	LogStore LogStore
	// NoSync disables fsync of raft.db (the bolt store only). Tests only: it loses acknowledged
	// entries on power loss. Default false.
	NoSync bool
	// UnsafeUnsyncedLog acknowledges log entries before they are on disk:
	// they are written back in the background every 100–300 ms, so a
	// kill -9 loses the last ones, as a power loss loses unsynced page
	// cache (cluster.Config.UnsafeUnsyncedLog says when). Fault-injection tests only.
	UnsafeUnsyncedLog bool
}

// validate checks the options that Open cannot default.
func (o *Options) validate() error {
	var errs []error
	if err := validateGroupName(o.Name); err != nil {
		errs = append(errs, err)
	}
	if o.NodeID == "" {
		errs = append(errs, errors.New("node id is empty"))
	}
	if o.DataDir == "" {
		errs = append(errs, errors.New("data dir is empty"))
	}
	if o.FSM == nil {
		errs = append(errs, errors.New("FSM is nil"))
	}
	if o.Layer == nil {
		errs = append(errs, errors.New("stream layer is nil"))
	}
	if err := o.Config.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("group config: %w", err))
	}
	if len(o.BootstrapServers) > 0 {
		self := false
		for _, s := range o.BootstrapServers {
			if s.ID == raft.ServerID(o.NodeID) && s.Suffrage == raft.Voter {
				self = true
			}
		}
		if !self {
			errs = append(errs, fmt.Errorf("bootstrap servers do not include node %q as a voter", o.NodeID))
		}
	}
	return errors.Join(errs...)
}

func validateGroupName(name string) error {
	if name == "" || len(name) > maxGroupNameLen || name[0] == '.' {
		return fmt.Errorf("invalid group name %q", name)
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '-' || c == '.'
		if !ok {
			return fmt.Errorf("invalid group name %q", name)
		}
	}
	return nil
}
