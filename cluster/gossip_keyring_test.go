package cluster

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/warrenmq/warren/transport/warrenpb"
)

func newKey(t *testing.T, n int) []byte {
	t.Helper()
	k := make([]byte, n)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// keyLog is an hclog output the test can read, and search for key
// material.
type keyLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *keyLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *keyLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// noKeys fails when the log holds any of keys, raw or in base64.
func (l *keyLog) noKeys(t *testing.T, keys ...[]byte) {
	t.Helper()
	s := l.String()
	for _, k := range keys {
		if strings.Contains(s, base64.StdEncoding.EncodeToString(k)) || strings.Contains(s, string(k)) {
			t.Fatalf("key material in the log:\n%s", s)
		}
	}
}

func keyringConfig(dir string, key []byte) Config {
	cfg := DefaultConfig()
	cfg.DataDir, cfg.GossipKey = dir, key
	return cfg
}

func openKeyring(t *testing.T, cfg Config, log *keyLog) *GossipKeyring {
	t.Helper()
	k, err := openGossipKeyring(cfg, hclog.New(&hclog.LoggerOptions{Output: log, Level: hclog.Info}))
	if err != nil {
		t.Fatalf("open keyring: %v", err)
	}
	return k
}

// wantKeys fails unless the keyring in memory (memberlist's) and the one
// persisted are both keys, the primary first.
func wantKeys(t *testing.T, k *GossipKeyring, keys ...[]byte) {
	t.Helper()
	got, err := k.List()
	if err != nil {
		t.Fatal(err)
	}
	same := func(a [][]byte) bool {
		if len(a) != len(keys) {
			return false
		}
		for i := range a {
			if !bytes.Equal(a[i], keys[i]) {
				return false
			}
		}
		return true
	}
	if !same(got.Keys) || !same(k.ring.GetKeys()) {
		t.Fatalf("keyring holds %d keys (%d in memberlist's), want %d in that order", len(got.Keys), len(k.ring.GetKeys()), len(keys))
	}
	if !bytes.Equal(k.ring.GetPrimaryKey(), keys[0]) {
		t.Fatal("memberlist encrypts with another key than the primary")
	}
	persisted, err := readKeyringFile(k.path)
	if err != nil {
		t.Fatal(err)
	}
	if !same(persisted) {
		t.Fatalf("persisted keyring holds %d keys, want %d in the same order as in memory", len(persisted), len(keys))
	}
	st, err := os.Stat(k.path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Fatalf("keyring file mode %o, want 600", mode)
	}
}

// noTempFiles fails when a write left a temporary file behind.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != GossipKeyringFile {
			t.Fatalf("unexpected file %s in the data dir", e.Name())
		}
	}
}

// TestGossipKeyringSeedsThenTakesPrecedence: the configured key seeds the
// keyring on the first start and is persisted (mode 0600); on later starts
// the persisted keyring wins over whatever key is configured, or none, and
// the log says which was used without showing a key.
func TestGossipKeyringSeedsThenTakesPrecedence(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // created by the first write
	k1, k2, other := newKey(t, 32), newKey(t, 16), newKey(t, 24)
	log := &keyLog{}

	k := openKeyring(t, keyringConfig(dir, k1), log)
	wantKeys(t, k, k1)
	if !strings.Contains(log.String(), "gossip encrypted with the configured key; keyring persisted") {
		t.Fatalf("first start did not log the seeding:\n%s", log)
	}
	if err := k.Install(k2); err != nil {
		t.Fatal(err)
	}
	if err := k.Use(k2); err != nil {
		t.Fatal(err)
	}

	// Restarted with the old key file: the rotated keyring is used.
	k = openKeyring(t, keyringConfig(dir, k1), log)
	wantKeys(t, k, k2, k1)
	if !strings.Contains(log.String(), "takes precedence over the configured key") || !strings.Contains(log.String(), "configured_key_is_primary=false") {
		t.Fatalf("restart did not log the precedence:\n%s", log)
	}
	// With a key the keyring does not hold: ignored, and said so.
	k = openKeyring(t, keyringConfig(dir, other), log)
	wantKeys(t, k, k2, k1)
	if !strings.Contains(log.String(), "the configured key is not in it and is ignored") {
		t.Fatalf("a foreign configured key was not reported:\n%s", log)
	}
	// With no key at all the persisted keyring still encrypts.
	k = openKeyring(t, keyringConfig(dir, nil), log)
	wantKeys(t, k, k2, k1)
	if !HasGossipKeyring(dir) {
		t.Fatal("HasGossipKeyring does not see the persisted keyring")
	}
	noTempFiles(t, dir)
	log.noKeys(t, k1, k2, other)
}

// TestGossipKeyringRotation: install, use and remove change memberlist's
// keyring and the persisted one together; repeating an operation changes
// nothing; the refusals leave both untouched and say what is wrong.
func TestGossipKeyringRotation(t *testing.T) {
	dir := t.TempDir()
	oldKey, newK := newKey(t, 32), newKey(t, 32)
	log := &keyLog{}
	k := openKeyring(t, keyringConfig(dir, oldKey), log)

	refusals := []struct {
		name string
		do   func() error
		want error
		code codes.Code
		says string
	}{
		{"remove the primary", func() error { return k.Remove(oldKey) }, ErrGossipKeyPrimary, codes.FailedPrecondition, "make another key the primary first"},
		{"use a key not installed", func() error { return k.Use(newK) }, ErrGossipKeyNotInstalled, codes.FailedPrecondition, "install it first"},
		{"install 12 bytes", func() error { return k.Install(newKey(t, 12)) }, ErrGossipKeyInvalid, codes.InvalidArgument, "12 bytes; a gossip key is 16, 24 or 32 bytes"},
		{"install nothing", func() error { return k.Install(nil) }, ErrGossipKeyInvalid, codes.InvalidArgument, "no key given"},
		{"list with a key", func() error { _, err := k.ApplyLocal(GossipKeyList, newK); return err }, ErrGossipKeyInvalid, codes.InvalidArgument, "list takes no key"},
		{"unknown operation", func() error { _, err := k.ApplyLocal(GossipKeyOp(9), newK); return err }, ErrGossipKeyInvalid, codes.InvalidArgument, "unknown keyring operation 9"},
	}
	for _, r := range refusals {
		err := r.do()
		if !errors.Is(err, r.want) || !strings.Contains(err.Error(), r.says) {
			t.Fatalf("%s: %v; want %v saying %q", r.name, err, r.want, r.says)
		}
		if st, ok := Status(err); !ok || st.Code() != r.code {
			t.Fatalf("%s: status %v, want %v", r.name, st, r.code)
		}
		wantKeys(t, k, oldKey)
	}

	for range 2 { // the second round changes nothing
		if kr, err := k.ApplyLocal(GossipKeyInstall, newK); err != nil || len(kr.Keys) != 2 {
			t.Fatalf("install: %v, %d keys", err, len(kr.Keys))
		}
		wantKeys(t, k, oldKey, newK)
	}
	for range 2 {
		if _, err := k.ApplyLocal(GossipKeyUse, newK); err != nil {
			t.Fatalf("use: %v", err)
		}
		wantKeys(t, k, newK, oldKey)
	}
	if err := k.Remove(newK); !errors.Is(err, ErrGossipKeyPrimary) {
		t.Fatalf("remove of the new primary: %v", err)
	}
	for range 2 {
		if kr, err := k.ApplyLocal(GossipKeyRemove, oldKey); err != nil || !bytes.Equal(kr.Primary(), newK) {
			t.Fatalf("remove: %v", err)
		}
		wantKeys(t, k, newK)
	}
	noTempFiles(t, dir)
	log.noKeys(t, oldKey, newK)
}

// TestGossipKeyringUnencrypted: a node without a key or a persisted keyring
// does not encrypt gossip, writes no file, and refuses every operation.
func TestGossipKeyringUnencrypted(t *testing.T) {
	dir := t.TempDir()
	k := openKeyring(t, keyringConfig(dir, nil), &keyLog{})
	if k.memberlistKeyring() != nil {
		t.Fatal("a keyring without a key")
	}
	for _, op := range []GossipKeyOp{GossipKeyList, GossipKeyInstall, GossipKeyUse, GossipKeyRemove} {
		var key []byte
		if op != GossipKeyList {
			key = newKey(t, 16)
		}
		_, err := k.ApplyLocal(op, key)
		if !errors.Is(err, ErrGossipNotEncrypted) {
			t.Fatalf("%v without encryption: %v", op, err)
		}
		if st, _ := Status(err); st.Code() != codes.FailedPrecondition {
			t.Fatalf("%v without encryption: status %v", op, st)
		}
	}
	if HasGossipKeyring(dir) {
		t.Fatal("a keyring file was written without a key")
	}
}

// TestGossipKeyringFileProblems: a persisted keyring that does not load
// stops the node (its error names the file and the problem) rather than
// falling back to the configured key.
func TestGossipKeyringFileProblems(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(newKey(t, 32))
	short := base64.StdEncoding.EncodeToString(newKey(t, 10))
	for _, tc := range []struct{ name, content, says string }{
		{"not json", "{", "not a keyring"},
		{"other version", `{"version": 2, "keys": ["` + good + `"]}`, "format version 2"},
		{"no key", `{"version": 1, "keys": []}`, "holds no key"},
		{"short key", `{"version": 1, "keys": ["` + good + `", "` + short + `"]}`, "key 2: invalid gossip key: 10 bytes"},
		{"not base64", `{"version": 1, "keys": ["@@@@"]}`, "not standard base64"},
		{"twice", `{"version": 1, "keys": ["` + good + `", "` + good + `"]}`, "key 2 is listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, GossipKeyringFile)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := openGossipKeyring(keyringConfig(dir, newKey(t, 32)), hclog.NewNullLogger())
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("open: %v; want an error naming %s and saying %q", err, path, tc.says)
			}
		})
	}
}

// TestParseGossipKey: the base64 of a 16, 24 or 32-byte key parses; other
// input is refused with a reason that shows no key.
func TestParseGossipKey(t *testing.T) {
	for _, n := range []int{16, 24, 32} {
		key := newKey(t, n)
		got, err := ParseGossipKey(base64.StdEncoding.EncodeToString(key))
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("%d-byte key: %v", n, err)
		}
	}
	for in, says := range map[string]string{
		"":     "no key given",
		"YWJj": "3 bytes",
		base64.StdEncoding.EncodeToString(newKey(t, 48)): "64 characters",
		"not base64!": "not standard base64",
	} {
		_, err := ParseGossipKey(in)
		if !errors.Is(err, ErrGossipKeyInvalid) || !strings.Contains(err.Error(), says) || (in != "" && strings.Contains(err.Error(), in)) {
			t.Errorf("ParseGossipKey(%q) = %v; want ErrGossipKeyInvalid saying %q", in, err, says)
		}
	}
}

// TestGossipKeyOpsMatchTheAPI: GossipKeyOp converts to the API's enum by
// value.
func TestGossipKeyOpsMatchTheAPI(t *testing.T) {
	for op, want := range map[GossipKeyOp]pb.GossipKeyOp{
		GossipKeyList: pb.GossipKeyOp_GOSSIP_KEY_OP_LIST, GossipKeyInstall: pb.GossipKeyOp_GOSSIP_KEY_OP_INSTALL,
		GossipKeyUse: pb.GossipKeyOp_GOSSIP_KEY_OP_USE, GossipKeyRemove: pb.GossipKeyOp_GOSSIP_KEY_OP_REMOVE,
	} {
		if pb.GossipKeyOp(op) != want {
			t.Errorf("%v is %v in the API", op, pb.GossipKeyOp(op))
		}
	}
}

// TestGossipKeyErrorStatus: a cluster-wide failure travels with a member's
// refusal code when there is one, else UNAVAILABLE, and names the failed
// members in its message and metadata.
func TestGossipKeyErrorStatus(t *testing.T) {
	// A member's refusal, as its answer arrives.
	refusal, _ := Status(fmt.Errorf("%w: install it first", ErrGossipKeyNotInstalled))
	notInstalled := FromStatus(refusal.Err())
	if !errors.Is(notInstalled, ErrGossipKeyNotInstalled) {
		t.Fatalf("a member's refusal is rebuilt as %v", notInstalled)
	}
	for _, tc := range []struct {
		name   string
		failed map[string]error
		want   codes.Code
	}{
		{"unreachable", map[string]error{"n3": status.Error(codes.Unavailable, "connection refused")}, codes.Unavailable},
		{"refused", map[string]error{"n2": notInstalled, "n3": errors.New("dial: timeout")}, codes.FailedPrecondition},
		{"old build", map[string]error{"n2": status.Error(codes.Unimplemented, "unknown method LocalGossipKey")}, codes.FailedPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := error(&GossipKeyError{Op: GossipKeyUse, Members: 3, Failed: tc.failed, Checked: true})
			st, ok := Status(err)
			if !ok || st.Code() != tc.want {
				t.Fatalf("status %v, want %v", st, tc.want)
			}
			if reasonOf(st) != ReasonGossipKeyNotApplied || metadataOf(st)["op"] != "use" {
				t.Fatalf("error info %v", errorInfo(st))
			}
			for id := range tc.failed {
				if !strings.Contains(st.Message(), "; "+id+": ") || !strings.Contains(metadataOf(st)["failed_members"], id) {
					t.Fatalf("%s is not named: %q, %v", id, st.Message(), metadataOf(st))
				}
			}
			if !strings.Contains(st.Message(), "nothing was changed") {
				t.Fatalf("message %q does not say nothing changed", st.Message())
			}
		})
	}
}

// TestSummarizeKeyrings counts holders and primaries per key.
func TestSummarizeKeyrings(t *testing.T) {
	a, b := newKey(t, 16), newKey(t, 16)
	r := summarize(map[string]NodeGossipKeys{
		"n1": {Keys: [][]byte{b, a}}, "n2": {Keys: [][]byte{a, b}}, "n3": {Keys: [][]byte{b}},
	})
	if r.Members != 3 || len(r.Keys) != 2 {
		t.Fatalf("report %+v", r)
	}
	if !bytes.Equal(r.Keys[0].Key, b) || r.Keys[0].Members != 3 || r.Keys[0].Primary != 2 || r.Keys[1].Members != 2 || r.Keys[1].Primary != 1 {
		t.Fatalf("counts %+v", r.Keys)
	}
	if r.Primary() != nil {
		t.Fatal("members disagree, yet a primary is reported")
	}
	if got := summarize(map[string]NodeGossipKeys{"n1": {Keys: [][]byte{a}}, "n2": {Keys: [][]byte{a, b}}}).Primary(); !bytes.Equal(got, a) {
		t.Fatal("the common primary is not reported")
	}
}
