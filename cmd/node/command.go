package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/warrenmq/warren/internal/version"
)

// usageError marks a mistake in the options (a flag, a variable, the
// config file): exit status 2, which the systemd unit does not restart.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// execute runs warren-node's command line args with the environment
// environ (os.Environ's form) and returns the exit status: 0, 1 when the
// node failed, 2 for a usage error. Errors are printed once, to stderr;
// --help and --version print to stdout. run is called with the merged
// options (serve; tests pass their own).
func execute(args, environ []string, stdout, stderr io.Writer, run func(*flags) error) int {
	cmd := newCommand(environ, run)
	if args == nil {
		args = []string{} // nil makes cobra read os.Args
	}
	if wantsHelp(args) {
		args = []string{"--help"}
	}
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	err := cmd.Execute()
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "warren-node:", err)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "Run 'warren-node --help' for the options.")
		return 2
	}
	return 1
}

// wantsHelp reports whether args ask for the help anywhere before a "--":
// also where pflag would take --help as the value of the flag before it,
// as in "warren-node --memory-high-watermark --help".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--help", "-h":
			return true
		}
	}
	return false
}

// newCommand is warren-node's command: its flags, and the environment and
// config file merged into them (config.go) before run is called.
func newCommand(environ []string, run func(*flags) error) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "warren-node [flags]",
		Short: "Run one Warren node",
		Long: `warren-node runs one Warren node. With no options it is a single-node broker
with its data in ./warren-data and the client API on 127.0.0.1:5680; with
--bootstrap-expect N and --join it forms or joins a cluster (README "Run a
3-zone cluster").

Every option can also be given as an environment variable, WARREN_ and the
flag's name in upper case with underscores (WARREN_DATA_DIR), or as a key of
the TOML file that --config (or WARREN_CONFIG) names, the flag's name without
the dashes (data-dir = "/var/lib/warren"; lists as arrays: join = ["a:5682",
"b:5682"]). Flags win over variables, and variables over the file; a key the
node does not know makes it refuse to start.

Sizes take a number of bytes or a unit: KiB, MiB, GiB, TiB are powers of
1024; kB, MB, GB, TB (and k, M, G, T) powers of 1000; "4MiB", "512 MiB".

Exit status: 0 after a clean stop, 1 when the node failed, 2 for a mistake in
the options (a flag, a variable, the config file).`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unexpected arguments: %q (every option is a --flag)", args)}
			}
			return nil
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.version {
				fmt.Fprintln(cmd.OutOrStdout(), "warren-node "+version.Get().String())
				return nil
			}
			src, err := loadConfig(cmd.Flags(), environ)
			if err != nil {
				return usageError{err}
			}
			f.sources = src
			if err := f.check(); err != nil {
				return usageError{err}
			}
			return run(f)
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false // the definition order groups related options
	defineFlags(fs, f)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{singleDashHint(c.Flags(), err)}
	})
	return cmd
}

// singleDashHint adds a hint to pflag's error for -id and the like: the
// standard flag package, which warren-node used before, took long options
// with one dash, and pflag reads "-id" as the shorthands -i and -d.
func singleDashHint(fs *pflag.FlagSet, err error) error {
	var ne *pflag.NotExistError
	if !errors.As(err, &ne) || ne.GetSpecifiedShortnames() == "" {
		return err
	}
	name, _, _ := strings.Cut(ne.GetSpecifiedShortnames(), "=")
	if fs.Lookup(name) == nil {
		return err
	}
	return fmt.Errorf("%w (long options take two dashes: --%s)", err, name)
}
