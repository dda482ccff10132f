package raftgroup

import (
	"context"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// countFSM counts the commands it applies and answers each with the count.
type countFSM struct{ n uint64 }

func (f *countFSM) Apply(l *raft.Log) any {
	if l.Type == raft.LogCommand {
		f.n++
	}
	return f.n
}

func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) { return countSnapshot{}, nil }

func (f *countFSM) Restore(rc io.ReadCloser) error { return rc.Close() }

type countSnapshot struct{}

func (countSnapshot) Persist(sink raft.SnapshotSink) error { return sink.Close() }
func (countSnapshot) Release()                             {}

// BenchmarkPacedPropose is hashicorp/raft's write path alone, as Warren
// runs it at light load: one voter with the default (segment) log store,
// fsyncing on the test's disk, a 1,100-byte entry (a 1 KiB body and its
// framing) proposed every millisecond, open loop, as `warren bench --rate
// 1000` publishes. Each op is one Propose, from Append to the FSM's
// answer: an fdatasync and Raft's hand-offs between its goroutines
// (apply channel, leader loop, FSM loop, future). It reports the latency
// p50/p99 (µs) and the process CPU per op, the share of a confirm's
// latency and of a node's CPU that the broker above Raft does not choose:
//
//	go test ./cluster/raftgroup -run '^$' -bench PacedPropose -benchtime 5000x
func BenchmarkPacedPropose(b *testing.B) {
	m := newTestMux(b, hclog.NewNullLogger())
	g, err := Open(Options{
		Name: "q0", NodeID: "n1", DataDir: b.TempDir(), FSM: &countFSM{}, Layer: m.Layer("q0"),
		Config: DefaultConfig(), Logger: hclog.NewNullLogger(), Bootstrap: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = g.Shutdown() })
	waitGroupLeader(b, g)
	data := make([]byte, 1100)
	lat := hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
	const interval = time.Millisecond
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		t0 := time.Now()
		if _, _, err := Propose[uint64](context.Background(), g, data); err != nil {
			b.Fatal(err)
		}
		_ = lat.RecordValue(max(1, time.Since(t0).Microseconds()))
	}
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(lat.ValueAtQuantile(50)), "p50-µs")
	b.ReportMetric(float64(lat.ValueAtQuantile(99)), "p99-µs")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}
