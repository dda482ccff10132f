package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/warrenmq/warren/client"
)

func newClusterCmd(a *app) *cobra.Command {
	return group("cluster", "Inspect the cluster, remove nodes, rotate the gossip key", newClusterStatusCmd(a), newClusterLeaveCmd(a),
		newClusterRemoveNodeCmd(a), newClusterGossipKeyCmd(a))
}

func newClusterLeaveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "leave",
		Short: "Make the node given by --server leave the cluster for good (it hands off its leaderships, is removed from every group, and stops)",
		Long: "Make the node given by --server (a single address) leave the cluster for good: it hands its leaderships " +
			"to other nodes, every Raft group removes it, and its process stops. Refused when a group would lose " +
			"its quorum of alive voters. To stop a node for a while (a restart, an upgrade), send it SIGTERM instead: " +
			"it stays a voter.",
		Args: nArgs(0, 0),
		RunE: a.action(func(ctx context.Context, c *client.Client, _ []string) error {
			if strings.Contains(a.servers, ",") {
				return usagef("leave acts on the node it is connected to: give exactly one --server address")
			}
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			groups, err := c.LeaveCluster(ctx)
			if err != nil {
				return err
			}
			return a.printer().emit(map[string]any{"node": c.Addr(), "removed_from": groups},
				fmt.Sprintf("node at %s left the cluster (removed from %d groups: %s)", c.Addr(), len(groups), strings.Join(groups, ", ")))
		}),
	}
}

func newClusterRemoveNodeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "remove-node ID",
		Short: "Remove a node that is not alive (crashed, or stopped for good) from every Raft group",
		Long: "Remove a node that is not alive from every Raft group, so that the cluster stops counting it in its " +
			"quorums. Refused for an alive node (use `warren cluster leave` against it) and when a group would lose " +
			"its quorum of alive voters.",
		Args: nArgs(1, 1),
		RunE: a.action(func(ctx context.Context, c *client.Client, args []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			groups, err := c.RemoveNode(ctx, args[0])
			if err != nil {
				return err
			}
			return a.printer().emit(map[string]any{"node": args[0], "removed_from": groups},
				fmt.Sprintf("removed %s from %d groups: %s", args[0], len(groups), strings.Join(groups, ", ")))
		}),
	}
}

func newClusterStatusCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show members, and for each Raft group its leader, servers and indexes",
		Long: `Show the members with their zone and state (alive, leaving, suspect,
dead, left), and for each Raft group its leader, term, commit and applied
index, and its servers as "ID lag=N": how many entries the server's log is
behind the leader's, or lag=-1 when the server (or the leader) did not answer,
as a dead node does.`,
		Args: nArgs(0, 0),
		RunE: a.action(func(ctx context.Context, c *client.Client, _ []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			st, err := c.ClusterStatus(ctx)
			if err != nil {
				return err
			}
			p := a.printer()
			if p.json {
				return p.writeJSON(st)
			}
			fmt.Fprintf(a.stdout, "answered by %s\n\n", st.NodeID)
			var rows [][]string
			for _, m := range st.Members {
				v := m.Version
				if v == "" {
					v = "-"
				}
				rows = append(rows, []string{m.ID, m.Zone, m.State, m.GRPCAddr, m.RaftAddr, v})
			}
			if err := p.table(st, []string{"MEMBER", "ZONE", "STATE", "GRPC", "RAFT", "VERSION"}, rows); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout)
			rows = rows[:0]
			for _, g := range st.Groups {
				var peers []string
				for _, pr := range g.Peers {
					s := pr.ID
					if pr.Suffrage != "voter" {
						s += "(nonvoter)"
					}
					// -1 (the server or the leader did not answer: dead,
					// stopped, cut off) is shown too, as documented.
					s += " lag=" + strconv.FormatInt(pr.Lag, 10)
					peers = append(peers, s)
				}
				rows = append(rows, []string{g.Name, g.LeaderID, strconv.FormatUint(g.Term, 10),
					strconv.FormatUint(g.CommitIndex, 10), strconv.FormatUint(g.AppliedIndex, 10), strings.Join(peers, ", ")})
			}
			return p.table(st, []string{"GROUP", "LEADER", "TERM", "COMMIT", "APPLIED", "SERVERS"}, rows)
		}),
	}
}
