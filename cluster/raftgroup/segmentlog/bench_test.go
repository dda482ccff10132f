package segmentlog

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	raftbench "github.com/hashicorp/raft/bench"
	"go.etcd.io/bbolt"
)

// benchStores opens each store the node can run, fresh, in a temporary
// directory: bolt as cluster/raftgroup opens it (fsync on) and this one.
func benchStores(b *testing.B) map[string]func() raft.LogStore {
	return map[string]func() raft.LogStore{
		"bolt": func() raft.LogStore {
			s, err := raftboltdb.New(raftboltdb.Options{
				Path:        filepath.Join(b.TempDir(), "raft.db"),
				BoltOptions: &bbolt.Options{NoFreelistSync: true, FreelistType: bbolt.FreelistMapType},
			})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		},
		"segment": func() raft.LogStore { return openStore(b, b.TempDir(), 0) },
	}
}

// BenchmarkStoreLogs: one StoreLogs (write and fsync) of one 1 KiB entry,
// and of a batch of 64 (what raft hands a follower, or a busy leader, at
// once), per operation.
func BenchmarkStoreLogs(b *testing.B) {
	for _, batch := range []int{1, 64} {
		for _, name := range []string{"bolt", "segment"} {
			b.Run(fmt.Sprintf("%s/batch=%d", name, batch), func(b *testing.B) {
				s := benchStores(b)[name]()
				data := make([]byte, 1024)
				logs := make([]*raft.Log, batch)
				next := uint64(1)
				b.SetBytes(int64(batch * len(data)))
				b.ResetTimer()
				for range b.N {
					for i := range logs {
						logs[i] = &raft.Log{Index: next, Term: 1, Type: raft.LogCommand, Data: data}
						next++
					}
					if err := s.StoreLogs(logs); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRaftBench runs the parts of hashicorp/raft's own LogStore
// benchmarks (github.com/hashicorp/raft/bench) whose use fits a monotonic
// store: its StoreLog starts at index 0 and its DeleteRange deletes middle
// ranges, neither of which raft does.
func BenchmarkRaftBench(b *testing.B) {
	for name, open := range benchStores(b) {
		b.Run(name+"/FirstIndex", func(b *testing.B) { raftbench.FirstIndex(b, open()) })
		b.Run(name+"/LastIndex", func(b *testing.B) { raftbench.LastIndex(b, open()) })
		b.Run(name+"/GetLog", func(b *testing.B) { raftbench.GetLog(b, open()) })
		b.Run(name+"/StoreLogs", func(b *testing.B) { raftbench.StoreLogs(b, open()) })
	}
}
