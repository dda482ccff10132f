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
	return group("cluster", "Inspect the cluster", newClusterStatusCmd(a))
}

func newClusterStatusCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show members, and for each Raft group its leader, servers and indexes",
		Args:  nArgs(0, 0),
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
				rows = append(rows, []string{m.ID, m.Zone, m.State, m.GRPCAddr, m.RaftAddr})
			}
			if err := p.table(st, []string{"MEMBER", "ZONE", "STATE", "GRPC", "RAFT"}, rows); err != nil {
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
					if pr.Lag >= 0 {
						s += " lag=" + strconv.FormatInt(pr.Lag, 10)
					}
					peers = append(peers, s)
				}
				rows = append(rows, []string{g.Name, g.LeaderID, strconv.FormatUint(g.Term, 10),
					strconv.FormatUint(g.CommitIndex, 10), strconv.FormatUint(g.AppliedIndex, 10), strings.Join(peers, ", ")})
			}
			return p.table(st, []string{"GROUP", "LEADER", "TERM", "COMMIT", "APPLIED", "SERVERS"}, rows)
		}),
	}
}
