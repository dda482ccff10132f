package cluster_test

import (
	"strings"
	"testing"

	"github.com/warrenmq/warren/cluster"
)

// TestConfigValidateMembership covers the membership fields of Validate.
func TestConfigValidateMembership(t *testing.T) {
	base := cluster.DefaultConfig()
	if err := base.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cases := []struct {
		name string
		edit func(c *cluster.Config)
		want string
	}{
		{"expect zero", func(c *cluster.Config) { c.BootstrapExpect = 0 }, "bootstrap expect"},
		{"expect six", func(c *cluster.Config) { c.BootstrapExpect = 6 }, "bootstrap expect"},
		{"gossip addr", func(c *cluster.Config) { c.GossipAddr = "nowhere" }, "gossip address"},
		{"empty join", func(c *cluster.Config) { c.Join = []string{""} }, "join address"},
		{"wildcard raft", func(c *cluster.Config) { c.BootstrapExpect, c.RaftAddr = 3, "0.0.0.0:5681" }, "raft address"},
		{"wildcard grpc", func(c *cluster.Config) { c.Join, c.GRPCAddr = []string{"10.0.0.1:5682"}, ":5680" }, "grpc address"},
		{"meta too large", func(c *cluster.Config) { c.Zone = strings.Repeat("z", 600) }, "gossip meta"},
		{"reconcile interval", func(c *cluster.Config) { c.ReconcileInterval = 0 }, "reconcile interval"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := cluster.DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error about %q", err, tc.want)
			}
		})
	}
	single := cluster.DefaultConfig()
	single.RaftAddr = "0.0.0.0:5681" // a single node may listen on every interface
	if err := single.Validate(); err != nil {
		t.Errorf("single node on 0.0.0.0: %v", err)
	}
}
