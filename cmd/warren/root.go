package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"

	"github.com/warrenmq/warren/client"
	"github.com/warrenmq/warren/internal/certs"
)

// defaultServer is the node address used without --server or WARREN_SERVER.
const defaultServer = "127.0.0.1:5680"

// app holds the global flags and the process's streams.
type app struct {
	servers string
	output  string
	timeout time.Duration

	tlsCA, tlsCert, tlsKey string
	tlsServerName          string
	tlsConfig              *tls.Config // loaded at the first dial

	user, passwordFile, vhost string
	password                  string // $WARREN_PASSWORD

	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// usageError marks a command-line mistake: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// runError marks a failure of the command's work: exit status 1.
type runError struct{ err error }

func (e runError) Error() string { return e.err.Error() }
func (e runError) Unwrap() error { return e.err }

// run executes the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(a, getenv)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "warren: %s\n", describe(err))
	var re runError
	if errors.As(err, &re) {
		return 1
	}
	fmt.Fprintln(stderr, "Run 'warren --help' for usage.")
	return 2
}

// describe renders err for the user; a gRPC status shows as its message and
// code name.
func describe(err error) string {
	var se interface {
		error
		GRPCStatus() *status.Status
	}
	if !errors.As(err, &se) {
		return err.Error()
	}
	st := se.GRPCStatus()
	prefix := strings.TrimSuffix(err.Error(), se.Error())
	return fmt.Sprintf("%s%s (%s)", prefix, st.Message(), st.Code())
}

func newRootCmd(a *app, getenv func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:   "warren",
		Short: "Command-line client of the Warren message-queue service",
		Long: `warren talks to a Warren cluster over gRPC.

With --tls-ca or --tls-cert (or $WARREN_TLS_CA, $WARREN_TLS_CERT) it connects
with TLS; "warren tls" makes a CA and certificates.

Exit status: 0 on success, 1 when the operation failed (the server's error is
printed as "warren: <message> (<code>)"), 2 for a usage error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if a.output != "text" && a.output != "json" {
				return usagef("--output must be text or json, not %q", a.output)
			}
			if a.timeout < 0 {
				return usagef("negative --timeout %v", a.timeout)
			}
			return nil
		},
	}
	server := defaultServer
	if s := getenv("WARREN_SERVER"); s != "" {
		server = s
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.servers, "server", server, "node address host:port, or a comma-separated list tried in order (env WARREN_SERVER)")
	pf.StringVarP(&a.output, "output", "o", "text", "output format: text or json")
	pf.DurationVar(&a.timeout, "timeout", 10*time.Second, "bound on connecting and on each request (0: none); consume and bench run until done")
	pf.StringVar(&a.tlsCA, "tls-ca", getenv("WARREN_TLS_CA"), "connect with TLS, checking the nodes' certificates against the CA certificates in `FILE` (PEM) (env WARREN_TLS_CA)")
	pf.StringVar(&a.tlsCert, "tls-cert", getenv("WARREN_TLS_CERT"), "connect with TLS, presenting the client certificate in `FILE` (PEM) to nodes that require one; the nodes are checked against the system's CAs unless --tls-ca is given (env WARREN_TLS_CERT)")
	pf.StringVar(&a.tlsKey, "tls-key", getenv("WARREN_TLS_KEY"), "the private key of --tls-cert, in `FILE` (PEM) (env WARREN_TLS_KEY)")
	pf.StringVar(&a.tlsServerName, "tls-server-name", "", "with TLS, check every node's certificate for `NAME` instead of the host of the address dialled")
	pf.StringVar(&a.user, "user", getenv("WARREN_USER"), "log in as `NAME` (env WARREN_USER; default guest/guest, which nodes admit from loopback only, or the client certificate's name)")
	pf.StringVar(&a.passwordFile, "password-file", "", "read --user's password from `FILE` (else env WARREN_PASSWORD)")
	pf.StringVar(&a.vhost, "vhost", getenv("WARREN_VHOST"), "virtual host to work in (env WARREN_VHOST; default /)")
	a.password = getenv("WARREN_PASSWORD")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newExchangeCmd(a), newQueueCmd(a), newClusterCmd(a),
		newBindCmd(a, "bind"), newBindCmd(a, "unbind"), newBindingCmd(a),
		newPublishCmd(a), newGetCmd(a), newConsumeCmd(a), newBenchCmd(a), newChaosCmd(a),
		newTLSCmd(a), newWhoAmICmd(a), newUserCmd(a), newPermissionCmd(a), newVHostCmd(a),
		newVersionCmd(a),
	)
	return root
}

// group returns a command that only holds subcommands.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(subs...)
	return cmd
}

// nArgs validates the number of positional arguments as a usage error.
func nArgs(minArgs, maxArgs int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < minArgs || len(args) > maxArgs {
			if minArgs == maxArgs {
				return usagef("%s takes %d argument(s), got %d", cmd.CommandPath(), minArgs, len(args))
			}
			return usagef("%s takes %d to %d arguments, got %d", cmd.CommandPath(), minArgs, maxArgs, len(args))
		}
		return nil
	}
}

// action wraps a command body: it connects, runs f, and closes the client.
// Errors from f are failures of the work (exit 1) unless they are usage
// errors.
func (a *app) action(f func(ctx context.Context, c *client.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := a.dial(cmd.Context())
		if err != nil {
			return err
		}
		defer func() { _ = c.Close() }()
		return asRunError(f(cmd.Context(), c, args))
	}
}

func asRunError(err error) error {
	var ue usageError
	if err == nil || errors.As(err, &ue) {
		return err
	}
	return runError{err}
}

// dial connects to the --server addresses, bounded by --timeout.
func (a *app) dial(ctx context.Context) (*client.Client, error) {
	var addrs []string
	for _, s := range strings.Split(a.servers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			addrs = append(addrs, s)
		}
	}
	if len(addrs) == 0 {
		return nil, usagef("no server address (--server or WARREN_SERVER)")
	}
	opts, err := a.clientOptions()
	if err != nil {
		return nil, err
	}
	ctx, cancel := a.opCtx(ctx)
	defer cancel()
	c, err := client.New(ctx, addrs, opts...)
	return c, asRunError(err)
}

// clientOptions returns the options of every client the CLI makes: the
// login and virtual host, and TLS when --tls-ca or --tls-cert is given.
func (a *app) clientOptions() ([]client.Option, error) {
	var opts []client.Option
	if a.user != "" {
		pw := a.password
		if a.passwordFile != "" {
			raw, err := os.ReadFile(a.passwordFile)
			if err != nil {
				return nil, runError{fmt.Errorf("--password-file: %w", err)}
			}
			pw = strings.TrimRight(string(raw), "\r\n")
		}
		opts = append(opts, client.WithCredentials(a.user, pw))
	} else if a.passwordFile != "" {
		return nil, usagef("--password-file needs --user (or WARREN_USER)")
	}
	if a.vhost != "" {
		opts = append(opts, client.WithVHost(a.vhost))
	}
	tlsOpts, err := a.tlsOptions()
	return append(opts, tlsOpts...), err
}

// tlsOptions returns TLS when --tls-ca or --tls-cert is given, nothing
// otherwise. The files are loaded once, at the first call.
func (a *app) tlsOptions() ([]client.Option, error) {
	if a.tlsCA == "" && a.tlsCert == "" {
		switch {
		case a.tlsKey != "":
			return nil, usagef("--tls-key (or WARREN_TLS_KEY) needs --tls-cert")
		case a.tlsServerName != "":
			return nil, usagef("--tls-server-name needs TLS: give --tls-ca or --tls-cert")
		}
		return nil, nil
	}
	if a.tlsCert != "" && a.tlsKey == "" {
		return nil, usagef("--tls-cert (or WARREN_TLS_CERT) needs --tls-key")
	}
	if a.tlsConfig == nil {
		id, err := certs.Load(certs.Files{CA: a.tlsCA, Cert: a.tlsCert, Key: a.tlsKey})
		if err != nil {
			return nil, runError{err}
		}
		cfg := id.ClientConfig()
		cfg.ServerName = a.tlsServerName
		a.tlsConfig = cfg
	}
	return []client.Option{client.WithTLS(a.tlsConfig)}, nil
}

// opCtx bounds one request by --timeout.
func (a *app) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if a.timeout > 0 {
		return context.WithTimeout(ctx, a.timeout)
	}
	return context.WithCancel(ctx)
}
