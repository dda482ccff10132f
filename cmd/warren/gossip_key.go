package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/warrenmq/warren/client"
)

// gossipKeyBytes is the size of a generated key: AES-256.
const gossipKeyBytes = 32

func newClusterGossipKeyCmd(a *app) *cobra.Command {
	cmd := group("gossip-key", "Rotate the key that encrypts gossip without downtime: generate, install, use, remove",
		newGossipKeyListCmd(a), newGossipKeyGenerateCmd(a),
		newGossipKeyChangeCmd(a, "install", "Install a key on every running member: they then also decrypt gossip with it",
			(*client.Client).InstallGossipKey, "installed"),
		newGossipKeyChangeCmd(a, "use", "Make an installed key the primary of every running member: they then encrypt gossip with it",
			(*client.Client).UseGossipKey, "now the primary key"),
		newGossipKeyChangeCmd(a, "remove", "Remove a key, which no member may still use as its primary, from every running member",
			(*client.Client).RemoveGossipKey, "removed"))
	cmd.Long = `Rotate the gossip encryption key without downtime, as "consul keyring" does:

  warren cluster gossip-key generate > new.key
  warren cluster gossip-key install --key-file new.key   # every member decrypts with it too
  warren cluster gossip-key use --key-file new.key       # every member encrypts with it
  warren cluster gossip-key remove --key-file old.key    # the old key is refused from now on
  warren cluster gossip-key list

Each operation acts on every running member through the node it reaches, and
fails unless every one of them carried it out, naming those that did not; run
it again (every operation is idempotent). Members persist their keyring in
their data directory, and at start the persisted keyring takes precedence over
--gossip-key-file. Give keys with --key-file rather than as an argument, which
would stay in your shell history.`
	return cmd
}

func newGossipKeyListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the gossip keys of the running members, with how many hold each and use it as primary",
		Args:  nArgs(0, 0),
		RunE: a.action(func(ctx context.Context, c *client.Client, _ []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			kr, err := c.ListGossipKeys(ctx)
			if err != nil {
				return err
			}
			return a.printKeyring(kr, "")
		}),
	}
}

func newGossipKeyGenerateCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "generate",
		Short: "Print a new random gossip key (32 bytes, base64); contacts no node",
		Args:  nArgs(0, 0),
		RunE: func(*cobra.Command, []string) error {
			key := make([]byte, gossipKeyBytes)
			if _, err := rand.Read(key); err != nil {
				return runError{err}
			}
			s := base64.StdEncoding.EncodeToString(key)
			return asRunError(a.printer().emit(map[string]any{"key": s}, s))
		},
	}
}

// newGossipKeyChangeCmd is install, use or remove: the key comes as the
// argument or from --key-file.
func newGossipKeyChangeCmd(a *app, name, short string, op func(*client.Client, context.Context, string) (client.GossipKeyring, error), done string) *cobra.Command {
	var keyFile, key string
	cmd := &cobra.Command{
		Use:   name + " [KEY]",
		Short: short,
		Long:  short + ". The key (base64 of 16, 24 or 32 bytes, as in a --gossip-key-file) is the argument, or is read from --key-file, which keeps it out of your shell history.",
		Args:  nArgs(0, 1),
		// Before connecting: a missing key is a usage error.
		PreRunE: func(_ *cobra.Command, args []string) (err error) {
			key, err = gossipKeyArg(args, keyFile)
			return err
		},
		RunE: a.action(func(ctx context.Context, c *client.Client, _ []string) error {
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			kr, err := op(c, ctx, key)
			if err != nil {
				return err
			}
			return a.printKeyring(kr, fmt.Sprintf("key %s on every running member (%d)", done, kr.Members))
		}),
	}
	cmd.Flags().StringVar(&keyFile, "key-file", "", "read the key from `FILE` (base64, as --gossip-key-file holds it)")
	return cmd
}

// gossipKeyArg returns the key given as the only argument or in keyFile.
func gossipKeyArg(args []string, keyFile string) (string, error) {
	switch {
	case len(args) == 1 && keyFile != "":
		return "", usagef("give the key as an argument or with --key-file, not both")
	case len(args) == 1:
		return args[0], nil
	case keyFile == "":
		return "", usagef("give the key as an argument or with --key-file")
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return "", runError{fmt.Errorf("--key-file: %w", err)}
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return "", runError{fmt.Errorf("--key-file %s is empty", keyFile)}
	}
	return key, nil
}

// printKeyring writes the keyring as a table, after the line head (when
// not empty), or as JSON.
func (a *app) printKeyring(kr client.GossipKeyring, head string) error {
	p := a.printer()
	if p.json {
		return p.writeJSON(kr)
	}
	if head != "" {
		fmt.Fprintln(a.stdout, head)
	}
	of := "/" + strconv.Itoa(kr.Members)
	rows := make([][]string, 0, len(kr.Keys))
	for _, k := range kr.Keys {
		rows = append(rows, []string{k.Key, strconv.Itoa(k.Members) + of, strconv.Itoa(k.PrimaryMembers) + of})
	}
	return p.table(kr, []string{"KEY", "MEMBERS", "PRIMARY"}, rows)
}
