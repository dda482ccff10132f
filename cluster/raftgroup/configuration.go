package raftgroup

import (
	"context"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// Changes to a group's configuration (its voters and non-voters) and to
// its leadership. Each must run on the leader; errors are those of Propose.

// AddVoter adds (or promotes) server id at addr as a voter of the group and
// waits until the configuration change commits.
func (g *Group) AddVoter(ctx context.Context, id raft.ServerID, addr raft.ServerAddress) error {
	return g.changeConfiguration(ctx, func(timeout time.Duration) raft.IndexFuture {
		return g.raft.AddVoter(id, addr, 0, timeout)
	})
}

// AddNonvoter adds (or updates the address of) server id as a non-voter of
// the group and waits until the change commits. A voter is not demoted by
// it.
func (g *Group) AddNonvoter(ctx context.Context, id raft.ServerID, addr raft.ServerAddress) error {
	return g.changeConfiguration(ctx, func(timeout time.Duration) raft.IndexFuture {
		return g.raft.AddNonvoter(id, addr, 0, timeout)
	})
}

// RemoveServer removes server id from the group's configuration and waits
// until the change commits. A node removed this way keeps running as a
// follower outside the configuration (ShutdownOnRemove is off) until its
// owner calls Shutdown.
func (g *Group) RemoveServer(ctx context.Context, id raft.ServerID) error {
	return g.changeConfiguration(ctx, func(timeout time.Duration) raft.IndexFuture {
		return g.raft.RemoveServer(id, 0, timeout)
	})
}

// changeConfiguration runs one configuration change, bounded in its
// enqueueing by ctx's deadline, and waits until it commits.
func (g *Group) changeConfiguration(ctx context.Context, change func(timeout time.Duration) raft.IndexFuture) error {
	if err := g.precheck(ctx); err != nil {
		return err
	}
	return g.awaitIndexed(ctx, change(enqueueTimeout(ctx)))
}

// TransferLeadership asks the leader (this node) to hand leadership to the
// most up-to-date follower and waits for the attempt, which Raft bounds by
// the election timeout. Not leader → *NotLeaderError.
func (g *Group) TransferLeadership() error {
	if err := g.raft.LeadershipTransfer().Error(); err != nil {
		return g.mapErr(context.Background(), err, false)
	}
	return nil
}

// TransferLeadershipTo is TransferLeadership to a chosen server, used to
// spread the leaders of the queue groups over the nodes.
func (g *Group) TransferLeadershipTo(id raft.ServerID, addr raft.ServerAddress) error {
	if err := g.raft.LeadershipTransferToServer(id, addr).Error(); err != nil {
		return g.mapErr(context.Background(), err, false)
	}
	return nil
}

// Configuration returns the group's latest configuration (which may not be
// committed yet), as known to this node. The slice is a copy.
func (g *Group) Configuration() ([]raft.Server, error) {
	f := g.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, g.mapErr(context.Background(), err, false)
	}
	return slices.Clone(f.Configuration().Servers), nil
}

// Bootstrap writes servers as the group's first configuration, for a group
// opened without Options.Bootstrap once its founders are known. It fails
// wrapping raft.ErrCantBootstrap when the group already has state.
func (g *Group) Bootstrap(servers []raft.Server) error {
	return g.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
}
