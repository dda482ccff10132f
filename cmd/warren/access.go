package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/warrenmq/warren/client"
)

// Users, permissions and virtual hosts (administrators), and whoami.

func newWhoAmICmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the user the node authenticated this CLI as, its tags and virtual host",
		Args:  nArgs(0, 0),
		RunE: a.action(func(ctx context.Context, c *client.Client, _ []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			id, err := c.WhoAmI(ctx)
			if err != nil {
				return err
			}
			return a.printer().emit(map[string]any{"user": id.User, "tags": id.Tags, "vhost": id.VHost},
				fmt.Sprintf("%s (tags: %s) in virtual host %s", id.User, strings.Join(id.Tags, ","), id.VHost))
		}),
	}
}

// newPassword reads a new user password from --new-password-file or, with
// --new-password-stdin, from the first line of standard input, so that it
// never appears on a command line.
type newPassword struct {
	file  string
	stdin bool
	none  bool
}

func (p *newPassword) register(cmd *cobra.Command, allowNone bool) {
	cmd.Flags().StringVar(&p.file, "new-password-file", "", "read the user's password from `FILE`")
	cmd.Flags().BoolVar(&p.stdin, "new-password-stdin", false, "read the user's password from the first line of standard input")
	if allowNone {
		cmd.Flags().BoolVar(&p.none, "no-password", false, "the user has no password: it logs in only with a client certificate naming it")
	}
}

func (p *newPassword) read(a *app) (string, error) {
	given := 0
	for _, b := range []bool{p.file != "", p.stdin, p.none} {
		if b {
			given++
		}
	}
	if given != 1 {
		return "", usagef("give exactly one of --new-password-file, --new-password-stdin (or, for add, --no-password)")
	}
	switch {
	case p.none:
		return "", nil
	case p.file != "":
		raw, err := os.ReadFile(p.file)
		if err != nil {
			return "", runError{err}
		}
		pw := strings.TrimRight(string(raw), "\r\n")
		if pw == "" {
			return "", usagef("%s holds an empty password", p.file)
		}
		return pw, nil
	}
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usagef("no password on standard input (%v)", err)
	}
	return pw, nil
}

func newUserCmd(a *app) *cobra.Command {
	var pw newPassword
	var tags []string
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Create a user (its password is hashed by the node, argon2id)",
		Args:  nArgs(1, 1),
		RunE: a.action(func(ctx context.Context, c *client.Client, args []string) error {
			password, err := pw.read(a)
			if err != nil {
				return err
			}
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			if err := c.AddUser(ctx, args[0], password, tags); err != nil {
				return err
			}
			return a.printer().emit(map[string]any{"user": args[0], "tags": tags}, "added user "+args[0])
		}),
	}
	pw.register(add, true)
	add.Flags().StringSliceVar(&tags, "tags", nil, "comma-separated tags: administrator, monitoring")

	var pw2 newPassword
	passwd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Change a user's password (its clients re-authenticate at their next call)",
		Args:  nArgs(1, 1),
		RunE: a.action(func(ctx context.Context, c *client.Client, args []string) error {
			password, err := pw2.read(a)
			if err != nil {
				return err
			}
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			if err := c.ChangePassword(ctx, args[0], password); err != nil {
				return err
			}
			return a.printer().emit(map[string]any{"user": args[0]}, "changed the password of "+args[0])
		}),
	}
	pw2.register(passwd, false)

	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a user and its permissions",
		Args:  nArgs(1, 1),
		RunE: a.action(func(ctx context.Context, c *client.Client, args []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			if err := c.DeleteUser(ctx, args[0]); err != nil {
				return err
			}
			return a.printer().emit(map[string]any{"user": args[0]}, "deleted user "+args[0])
		}),
	}
	setTags := &cobra.Command{
		Use:   "tags NAME [TAG...]",
		Short: "Replace a user's tags (none: clear them)",
		Args:  nArgs(1, 1+32),
		RunE: a.action(func(ctx context.Context, c *client.Client, args []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			if err := c.SetUserTags(ctx, args[0], args[1:]); err != nil {
				return err
			}
			return a.printer().emit(map[string]any{"user": args[0], "tags": args[1:]},
				fmt.Sprintf("tags of %s: %s", args[0], strings.Join(args[1:], ",")))
		}),
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List users and their tags",
		Args:  nArgs(0, 0),
		RunE: a.action(func(ctx context.Context, c *client.Client, _ []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			users, err := c.ListUsers(ctx)
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(users))
			for _, u := range users {
				rows = append(rows, []string{u.Name, strings.Join(u.Tags, ",")})
			}
			return a.printer().table(users, []string{"NAME", "TAGS"}, rows)
		}),
	}
	return group("user", "Manage users (administrators)", add, del, passwd, setTags, list)
}

func newPermissionCmd(a *app) *cobra.Command {
	var vhost string
	set := &cobra.Command{
		Use:   "set USER CONFIGURE WRITE READ",
		Short: "Set a user's permissions in a virtual host: three regular expressions over queue and exchange names (\"\" none, \".*\" all)",
		Args:  nArgs(4, 4),
		RunE: a.action(func(ctx context.Context, c *client.Client, args []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			p := client.Permission{User: args[0], VHost: vhost, Configure: args[1], Write: args[2], Read: args[3]}
			if err := c.SetPermissions(ctx, p); err != nil {
				return err
			}
			return a.printer().emit(p, fmt.Sprintf("set permissions of %s in %s", p.User, p.VHost))
		}),
	}
	set.Flags().StringVarP(&vhost, "on-vhost", "p", "/", "the virtual host the permissions are for")
	var clearVHost string
	clr := &cobra.Command{
		Use:   "clear USER",
		Short: "Remove a user's permissions in a virtual host",
		Args:  nArgs(1, 1),
		RunE: a.action(func(ctx context.Context, c *client.Client, args []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			if err := c.ClearPermissions(ctx, args[0], clearVHost); err != nil {
				return err
			}
			return a.printer().emit(map[string]any{"user": args[0], "vhost": clearVHost},
				fmt.Sprintf("cleared permissions of %s in %s", args[0], clearVHost))
		}),
	}
	clr.Flags().StringVarP(&clearVHost, "on-vhost", "p", "/", "the virtual host")
	var listUser, listVHost string
	list := &cobra.Command{
		Use:   "list",
		Short: "List permissions (of one user with --of-user, in one virtual host with -p)",
		Args:  nArgs(0, 0),
		RunE: a.action(func(ctx context.Context, c *client.Client, _ []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			perms, err := c.ListPermissions(ctx, listUser, listVHost)
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(perms))
			for _, p := range perms {
				rows = append(rows, []string{p.User, p.VHost, p.Configure, p.Write, p.Read})
			}
			return a.printer().table(perms, []string{"USER", "VHOST", "CONFIGURE", "WRITE", "READ"}, rows)
		}),
	}
	list.Flags().StringVar(&listUser, "of-user", "", "only this user's")
	list.Flags().StringVarP(&listVHost, "on-vhost", "p", "", "only in this virtual host")
	return group("permission", "Manage users' permissions (administrators)", set, clr, list)
}

func newVHostCmd(a *app) *cobra.Command {
	one := func(use, short, done string, f func(*client.Client, context.Context, string) error) *cobra.Command {
		return &cobra.Command{
			Use: use + " NAME", Short: short, Args: nArgs(1, 1),
			RunE: a.action(func(ctx context.Context, c *client.Client, args []string) error {
				ctx, cancel := a.opCtx(ctx)
				defer cancel()
				if err := f(c, ctx, args[0]); err != nil {
					return err
				}
				return a.printer().emit(map[string]any{"vhost": args[0]}, done+" virtual host "+args[0])
			}),
		}
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List virtual hosts",
		Args:  nArgs(0, 0),
		RunE: a.action(func(ctx context.Context, c *client.Client, _ []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			vs, err := c.ListVHosts(ctx)
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(vs))
			for _, v := range vs {
				rows = append(rows, []string{v})
			}
			return a.printer().table(vs, []string{"NAME"}, rows)
		}),
	}
	var maxQueues, maxExchanges, maxBindings int64
	var limits *cobra.Command
	limits = &cobra.Command{
		Use:   "limits NAME",
		Short: "Set a virtual host's limits: --max-queues, --max-exchanges (the built-in ones not counted), --max-bindings; a limit not given is removed",
		Args:  nArgs(1, 1),
		RunE: a.action(func(ctx context.Context, c *client.Client, args []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			l := client.VHostLimits{}
			set := func(name string, v *int64, into **int64) error {
				if limits.Flags().Changed(name) {
					if *v < 0 {
						return usagef("--%s must be 0 or more", name)
					}
					*into = v
				}
				return nil
			}
			for _, f := range []struct {
				name string
				v    *int64
				into **int64
			}{{"max-queues", &maxQueues, &l.MaxQueues}, {"max-exchanges", &maxExchanges, &l.MaxExchanges}, {"max-bindings", &maxBindings, &l.MaxBindings}} {
				if err := set(f.name, f.v, f.into); err != nil {
					return err
				}
			}
			if err := c.SetVHostLimits(ctx, args[0], l); err != nil {
				return err
			}
			return a.printer().emit(map[string]any{"vhost": args[0], "max_queues": l.MaxQueues, "max_exchanges": l.MaxExchanges, "max_bindings": l.MaxBindings},
				"set the limits of virtual host "+args[0])
		}),
	}
	limits.Flags().Int64Var(&maxQueues, "max-queues", 0, "most queues in the virtual host")
	limits.Flags().Int64Var(&maxExchanges, "max-exchanges", 0, "most exchanges declared in the virtual host")
	limits.Flags().Int64Var(&maxBindings, "max-bindings", 0, "most bindings in the virtual host")
	return group("vhost", "Manage virtual hosts (administrators)",
		one("add", "Create a virtual host", "added", (*client.Client).AddVHost),
		one("delete", "Delete a virtual host with its queues, exchanges, bindings and permissions", "deleted", (*client.Client).DeleteVHost),
		list, limits)
}
