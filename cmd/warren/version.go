package main

import (
	"github.com/spf13/cobra"

	"github.com/warrenmq/warren/internal/version"
)

// newVersionCmd prints the CLI's own build; `warren cluster status` shows
// each node's.
func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this warren binary (module version, commit, Go version); cluster status shows the nodes'",
		Args:  nArgs(0, 0),
		RunE: func(*cobra.Command, []string) error {
			i := version.Get()
			return a.printer().emit(i, "warren "+i.String())
		},
	}
}
