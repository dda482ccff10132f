package cluster

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
)

// The gossip keyring, as Consul keeps it: memberlist encrypts with the
// primary key and decrypts with any installed key, so a key is rotated
// without downtime by installing the new key on every member, making it the
// primary everywhere, then removing the old one. The keyring is persisted in
// the data directory at every change, and at start the persisted keyring
// takes precedence over Config.GossipKey, which seeds it on the first start
// only: a node restarted with its old key file still has the keys the
// cluster rotated to. This file holds one node's keyring;
// gossip_keyring_cluster.go applies an operation on every running member.

// GossipKeyringFile is the name of the persisted keyring in the data
// directory.
const GossipKeyringFile = "gossip-keyring.json"

// keyringFileVersion is the version of the persisted keyring's format.
const keyringFileVersion = 1

// maxGossipKeyBase64 is the length of the base64 of the longest key.
const maxGossipKeyBase64 = 44

// GossipKeyOp is an operation on the gossip keyring. The values are those of
// warrenpb.GossipKeyOp.
type GossipKeyOp int

const (
	// GossipKeyList changes nothing: it reports the keys.
	GossipKeyList GossipKeyOp = 1
	// GossipKeyInstall adds a key, which the node then also decrypts with.
	GossipKeyInstall GossipKeyOp = 2
	// GossipKeyUse makes an installed key the primary, which the node
	// encrypts with.
	GossipKeyUse GossipKeyOp = 3
	// GossipKeyRemove drops a key that is not the primary.
	GossipKeyRemove GossipKeyOp = 4
)

// String returns the operation's lower-case name ("install").
func (op GossipKeyOp) String() string {
	switch op {
	case GossipKeyList:
		return "list"
	case GossipKeyInstall:
		return "install"
	case GossipKeyUse:
		return "use"
	case GossipKeyRemove:
		return "remove"
	}
	return fmt.Sprintf("operation %d", int(op))
}

// NodeGossipKeys is one node's keyring.
type NodeGossipKeys struct {
	NodeID string
	// Keys are the installed keys, the primary first. Nil when gossip is
	// not encrypted.
	Keys [][]byte
}

// Primary returns the key the node encrypts with (nil: none).
func (k NodeGossipKeys) Primary() []byte {
	if len(k.Keys) == 0 {
		return nil
	}
	return k.Keys[0]
}

// GossipKeyring is a node's gossip encryption keys (memberlist's keyring)
// and their persisted copy. Node.GossipKeys returns it. Its methods are safe
// for concurrent use; changes are serialised. Keys are never logged, nor
// put into errors.
type GossipKeyring struct {
	nodeID string
	path   string
	logger hclog.Logger
	// node reaches the other members (gossip_keyring_cluster.go); set by
	// Start before gossip starts.
	node *Node

	// mu serialises changes: each one is persisted before memberlist's
	// keyring takes it, so what runs is never ahead of what a restart
	// reads.
	mu sync.Mutex
	// ring is what memberlist encrypts and decrypts with; nil when gossip
	// is not encrypted (no key configured and none persisted).
	ring *memberlist.Keyring
}

// ParseGossipKey decodes a gossip key in standard base64, as a key file
// holds it, and checks its length. Errors wrap ErrGossipKeyInvalid and never
// contain the key.
func ParseGossipKey(s string) ([]byte, error) {
	if len(s) > maxGossipKeyBase64 {
		return nil, fmt.Errorf("%w: %d characters; the base64 of a 16, 24 or 32-byte key has at most %d", ErrGossipKeyInvalid, len(s), maxGossipKeyBase64)
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not standard base64 (%v)", ErrGossipKeyInvalid, err)
	}
	if err := checkGossipKey(key); err != nil {
		return nil, err
	}
	return key, nil
}

// checkGossipKey checks a raw key's length.
func checkGossipKey(key []byte) error {
	switch len(key) {
	case 16, 24, 32:
		return nil
	case 0:
		return fmt.Errorf("%w: no key given", ErrGossipKeyInvalid)
	}
	return fmt.Errorf("%w: %d bytes; a gossip key is 16, 24 or 32 bytes (AES-128, -192 or -256)", ErrGossipKeyInvalid, len(key))
}

// HasGossipKeyring reports whether dataDir holds a persisted gossip keyring
// (which encrypts gossip even when no key is configured).
func HasGossipKeyring(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, GossipKeyringFile))
	return err == nil
}

// openGossipKeyring loads the persisted keyring of cfg.DataDir or, when
// there is none and cfg.GossipKey is set, seeds one with that key and
// persists it. It logs which it did, once. A persisted keyring that does not
// load is an error: falling back to the configured key could cut the node
// off a cluster that rotated away from it.
func openGossipKeyring(cfg Config, logger hclog.Logger) (*GossipKeyring, error) {
	k := &GossipKeyring{nodeID: cfg.NodeID, path: filepath.Join(cfg.DataDir, GossipKeyringFile), logger: logger.Named("gossip")}
	keys, err := readKeyringFile(k.path)
	switch {
	case err == nil:
		switch {
		case len(cfg.GossipKey) == 0:
			k.logger.Info("gossip encrypted with the persisted keyring", "path", k.path, "keys", len(keys))
		case slices.ContainsFunc(keys, func(key []byte) bool { return bytes.Equal(key, cfg.GossipKey) }):
			k.logger.Info("gossip encrypted with the persisted keyring, which takes precedence over the configured key (that key only seeds a new keyring)",
				"path", k.path, "keys", len(keys), "configured_key_is_primary", bytes.Equal(keys[0], cfg.GossipKey))
		default:
			k.logger.Warn("gossip encrypted with the persisted keyring; the configured key is not in it and is ignored, as it only seeds a new keyring (were the keys rotated since the key file was written?)",
				"path", k.path, "keys", len(keys))
		}
	case errors.Is(err, fs.ErrNotExist):
		if len(cfg.GossipKey) == 0 {
			k.logger.Info("gossip is not encrypted: no gossip key configured and no persisted keyring", "path", k.path)
			return k, nil
		}
		keys = [][]byte{bytes.Clone(cfg.GossipKey)}
		if err := writeKeyringFile(k.path, keys); err != nil {
			return nil, fmt.Errorf("persist the gossip keyring: %w", err)
		}
		k.logger.Info("gossip encrypted with the configured key; keyring persisted, and it takes precedence over the configured key from now on", "path", k.path)
	default:
		return nil, fmt.Errorf("gossip keyring %s: %w (remove the file to seed a new keyring from the configured key)", k.path, err)
	}
	ring, err := memberlist.NewKeyring(keys, keys[0])
	if err != nil {
		return nil, fmt.Errorf("gossip keyring %s: %w", k.path, err)
	}
	k.ring = ring
	return k, nil
}

// memberlistKeyring is the keyring memberlist encrypts with; nil when
// gossip is not encrypted.
func (k *GossipKeyring) memberlistKeyring() *memberlist.Keyring { return k.ring }

// List returns this node's keys.
func (k *GossipKeyring) List() (NodeGossipKeys, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.checkEncryptedLocked(); err != nil {
		return NodeGossipKeys{}, err
	}
	return NodeGossipKeys{NodeID: k.nodeID, Keys: k.keysLocked()}, nil
}

// Install adds key to this node's keyring (decrypting with it from then on)
// and persists the keyring. Installing a key that is installed does nothing.
func (k *GossipKeyring) Install(key []byte) error {
	if err := checkGossipKey(key); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.checkEncryptedLocked(); err != nil {
		return err
	}
	keys := k.keysLocked()
	if indexKey(keys, key) >= 0 {
		return nil
	}
	if err := k.saveLocked(append(keys, bytes.Clone(key))); err != nil {
		return err
	}
	if err := k.ring.AddKey(bytes.Clone(key)); err != nil {
		return fmt.Errorf("%w: %v", ErrGossipKeyInvalid, err) // checked above
	}
	k.logger.Info("gossip key installed", "keys", len(keys)+1)
	return nil
}

// Use makes key, which must be installed, the primary: this node encrypts
// gossip with it from then on. The keyring is persisted. Using the primary
// does nothing.
func (k *GossipKeyring) Use(key []byte) error {
	if err := checkGossipKey(key); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.checkEncryptedLocked(); err != nil {
		return err
	}
	keys := k.keysLocked()
	i := indexKey(keys, key)
	switch {
	case i < 0:
		return fmt.Errorf("%w: install it first", ErrGossipKeyNotInstalled)
	case i == 0:
		return nil
	}
	reordered := append([][]byte{keys[i]}, slices.Delete(slices.Clone(keys), i, i+1)...)
	if err := k.saveLocked(reordered); err != nil {
		return err
	}
	if err := k.ring.UseKey(keys[i]); err != nil {
		return fmt.Errorf("%w: %v", ErrGossipKeyNotInstalled, err) // checked above
	}
	k.logger.Info("gossip encrypted with another installed key from now on", "keys", len(keys))
	return nil
}

// Remove drops key from this node's keyring and persists it. The primary
// key cannot be removed; removing a key that is not installed does nothing.
func (k *GossipKeyring) Remove(key []byte) error {
	if err := checkGossipKey(key); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.checkEncryptedLocked(); err != nil {
		return err
	}
	keys := k.keysLocked()
	i := indexKey(keys, key)
	switch {
	case i < 0:
		return nil
	case i == 0:
		return fmt.Errorf("%w: make another key the primary first (use)", ErrGossipKeyPrimary)
	}
	if err := k.saveLocked(slices.Delete(slices.Clone(keys), i, i+1)); err != nil {
		return err
	}
	// memberlist's RemoveKey shifts the keys in place in the slice its
	// readers may hold (Consul's serf calls it the same way); keys are
	// removed rarely, at the end of a rotation, after every member stopped
	// encrypting with the key.
	if err := k.ring.RemoveKey(keys[i]); err != nil {
		return fmt.Errorf("%w: %v", ErrGossipKeyPrimary, err) // checked above
	}
	k.logger.Info("gossip key removed", "keys", len(keys)-1)
	return nil
}

// ApplyLocal applies op on this node only and returns its keyring
// afterwards (the receiving end of a member's fan-out).
func (k *GossipKeyring) ApplyLocal(op GossipKeyOp, key []byte) (NodeGossipKeys, error) {
	var err error
	switch op {
	case GossipKeyList:
		if len(key) > 0 {
			return NodeGossipKeys{}, fmt.Errorf("%w: list takes no key", ErrGossipKeyInvalid)
		}
	case GossipKeyInstall:
		err = k.Install(key)
	case GossipKeyUse:
		err = k.Use(key)
	case GossipKeyRemove:
		err = k.Remove(key)
	default:
		return NodeGossipKeys{}, fmt.Errorf("%w: unknown keyring %v", ErrGossipKeyInvalid, op)
	}
	if err != nil {
		return NodeGossipKeys{}, err
	}
	return k.List()
}

func (k *GossipKeyring) checkEncryptedLocked() error {
	if k.ring == nil {
		return fmt.Errorf("%w: the node was started without a gossip key and has no persisted keyring", ErrGossipNotEncrypted)
	}
	return nil
}

// keysLocked returns a copy of the keys, the primary first. memberlist
// replaces its slice on every change but never changes a key's bytes, so
// the keys themselves are shared.
func (k *GossipKeyring) keysLocked() [][]byte { return slices.Clone(k.ring.GetKeys()) }

// saveLocked persists keys (the primary first).
func (k *GossipKeyring) saveLocked(keys [][]byte) error {
	if err := writeKeyringFile(k.path, keys); err != nil {
		return fmt.Errorf("persist the gossip keyring (the change was not applied): %w", err)
	}
	return nil
}

func indexKey(keys [][]byte, key []byte) int {
	return slices.IndexFunc(keys, func(k []byte) bool { return bytes.Equal(k, key) })
}

// keyringFile is the persisted keyring.
type keyringFile struct {
	Version int `json:"version"`
	// Keys in standard base64, the primary first.
	Keys []string `json:"keys"`
}

// readKeyringFile reads and checks a persisted keyring; a missing file is
// fs.ErrNotExist.
func readKeyringFile(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f keyringFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("not a keyring: %w", err)
	}
	if f.Version != keyringFileVersion {
		return nil, fmt.Errorf("keyring format version %d, this build reads %d", f.Version, keyringFileVersion)
	}
	if len(f.Keys) == 0 {
		return nil, errors.New("the keyring holds no key")
	}
	keys := make([][]byte, 0, len(f.Keys))
	for i, s := range f.Keys {
		key, err := ParseGossipKey(s)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		if indexKey(keys, key) >= 0 {
			return nil, fmt.Errorf("key %d is listed twice", i+1)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// writeKeyringFile replaces the persisted keyring atomically: a temporary
// file of mode 0600 in the same directory, written and fsynced, renamed over
// the old one, then the directory fsynced, so a crash leaves the old
// keyring or the new one, never a torn file.
func writeKeyringFile(path string, keys [][]byte) (err error) {
	f := keyringFile{Version: keyringFileVersion, Keys: make([]string, len(keys))}
	for i, k := range keys {
		f.Keys[i] = base64.StdEncoding.EncodeToString(k)
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+GossipKeyringFile+".*.tmp") // mode 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
