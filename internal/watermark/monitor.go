package watermark

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/internal/bytesize"
)

// Default sampling intervals: the heap can grow by a few hundred MB per
// second under a publish flood, the disk fills more slowly and statfs is a
// system call.
const (
	DefaultMemoryInterval = 100 * time.Millisecond
	DefaultDiskInterval   = time.Second
)

// Hysteresis: a tripped memory alarm clears below memoryClear of the high
// watermark, a tripped disk alarm above diskClear of the low watermark, so
// that a node at the edge does not flap between refusing and accepting.
const (
	memoryClear = 0.9
	diskClear   = 1.1
)

// Forced collections (see sampleMemory): at most one per gcMinWait; while
// the alarm stays tripped the wait doubles up to gcMaxWait, so a node that
// really holds that much data does not spend its CPU marking it.
const (
	gcMinWait = time.Second
	gcMaxWait = 15 * time.Second
)

// heapMetric is the heap the memory watermark compares: the bytes of heap
// objects, live ones and dead ones not yet freed by the collector. It is
// what queued messages make grow, and the part of the RSS Warren controls;
// the runtime's overhead, goroutine stacks and the page cache of the Raft
// files come on top (README "Limits").
const heapMetric = "/memory/classes/heap/objects:bytes"

// Config sets a Monitor's watermarks. The zero value watches nothing.
type Config struct {
	// MemoryHigh is the heap size in bytes at which publishes are refused;
	// they are accepted again once the heap is below 90 % of it. 0 turns
	// the memory alarm off.
	MemoryHigh uint64
	// DiskFreeLow is the free space in bytes of DataDir's file system below
	// which publishes are refused; they are accepted again once more than
	// 110 % of it is free. 0 turns the disk alarm off.
	DiskFreeLow uint64
	// DataDir is the directory whose file system is watched.
	DataDir string
	// MemoryInterval and DiskInterval are the sampling periods; zero means
	// DefaultMemoryInterval and DefaultDiskInterval.
	MemoryInterval time.Duration
	DiskInterval   time.Duration
	// Logger reports alarms as they trip and clear; nil discards.
	Logger hclog.Logger
}

// Monitor samples the heap and the data directory's free space and keeps
// an alarm per resource. Check is safe for concurrent use and costs two
// atomic loads; sampling happens on one goroutine between Start and Close.
type Monitor struct {
	cfg    Config
	logger hclog.Logger

	// Samplers, replaced by tests.
	heapBytes func() uint64
	diskFree  func(dir string) (uint64, error)
	collect   func()
	now       func() time.Time

	memErr  atomic.Pointer[error]
	diskErr atomic.Pointer[error]
	// The last samples, for Status.
	heapSample, diskSample atomic.Uint64

	// State of the sampling goroutine.
	memTripped  bool
	gcWait      time.Duration
	lastGC      time.Time
	diskTripped bool
	diskFailing bool
	sample      []metrics.Sample

	stop      chan struct{}
	done      sync.WaitGroup
	startOnce sync.Once
	stopOnce  sync.Once
}

// New returns a monitor for cfg; it samples nothing until Start.
func New(cfg Config) *Monitor {
	if cfg.MemoryInterval <= 0 {
		cfg.MemoryInterval = DefaultMemoryInterval
	}
	if cfg.DiskInterval <= 0 {
		cfg.DiskInterval = DefaultDiskInterval
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	m := &Monitor{
		cfg: cfg, logger: logger,
		diskFree: diskFree, collect: runtime.GC, now: time.Now,
		gcWait: gcMinWait,
		sample: []metrics.Sample{{Name: heapMetric}},
		stop:   make(chan struct{}),
	}
	m.heapBytes = m.readHeap
	return m
}

// Start takes a first sample of each resource — so that Check is right
// as soon as Start returns, e.g. on a disk that is already full — and then
// samples in the background until Close. Calls after the first do nothing.
func (m *Monitor) Start() {
	m.startOnce.Do(func() {
		m.sampleMemory()
		m.sampleDisk()
		m.done.Add(1)
		go m.run()
	})
}

// Close stops sampling and waits for the sampler to end; the alarms keep
// their last state. Idempotent.
func (m *Monitor) Close() {
	m.stopOnce.Do(func() { close(m.stop) })
	m.done.Wait()
}

func (m *Monitor) run() {
	defer m.done.Done()
	mem := time.NewTicker(m.cfg.MemoryInterval)
	defer mem.Stop()
	disk := time.NewTicker(m.cfg.DiskInterval)
	defer disk.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-mem.C:
			m.sampleMemory()
		case <-disk.C:
			m.sampleDisk()
		}
	}
}

// Check returns nil while the node has room for new messages, and
// otherwise an error wrapping ErrMemoryHigh or ErrDiskLow that says which
// watermark is passed and by how much. A nil Monitor has room.
func (m *Monitor) Check() error {
	if m == nil {
		return nil
	}
	if e := m.memErr.Load(); e != nil {
		return *e
	}
	if e := m.diskErr.Load(); e != nil {
		return *e
	}
	return nil
}

// Status is a Monitor's state, for metrics.
type Status struct {
	// MemoryAlarm and DiskAlarm: publishes are refused for that resource.
	MemoryAlarm, DiskAlarm bool
	// MemoryHigh and DiskFreeLow are the watermarks in bytes (0: off).
	MemoryHigh, DiskFreeLow uint64
	// HeapBytes and DiskFreeBytes are the last samples (0 while that
	// watermark is off, or before the first sample).
	HeapBytes, DiskFreeBytes uint64
}

// Status returns the alarms, the watermarks and the last samples. Safe
// for concurrent use; a nil Monitor reports nothing tripped.
func (m *Monitor) Status() Status {
	if m == nil {
		return Status{}
	}
	return Status{
		MemoryAlarm: m.memErr.Load() != nil, DiskAlarm: m.diskErr.Load() != nil,
		MemoryHigh: m.cfg.MemoryHigh, DiskFreeLow: m.cfg.DiskFreeLow,
		HeapBytes: m.heapSample.Load(), DiskFreeBytes: m.diskSample.Load(),
	}
}

func (m *Monitor) readHeap() uint64 {
	metrics.Read(m.sample)
	if m.sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return m.sample[0].Value.Uint64()
}

// sampleMemory updates the memory alarm. Dead objects count in the heap
// until the collector frees them, and without allocation the next
// collection may be minutes away (the runtime forces one every two
// minutes), so before tripping, and while tripped, it collects first:
// the alarm then follows the live data — the queued messages — and clears
// soon after consumers drain the queues instead of refusing publishes
// into empty queues.
func (m *Monitor) sampleMemory() {
	high := m.cfg.MemoryHigh
	if high == 0 {
		return
	}
	clearBelow := uint64(float64(high) * memoryClear)
	v := m.heapBytes()
	if (v >= high || (m.memTripped && v >= clearBelow)) && m.now().Sub(m.lastGC) >= m.gcWait {
		m.collect()
		m.lastGC = m.now()
		v = m.heapBytes()
		if m.memTripped && v >= clearBelow {
			m.gcWait = min(2*m.gcWait, gcMaxWait)
		}
	}
	switch {
	case !m.memTripped && v >= high:
		m.memTripped = true
		m.logger.Warn("memory high watermark reached: refusing publishes until consumers drain queues",
			"heap", bytesize.Format(v), "watermark", bytesize.Format(high))
	case m.memTripped && v < clearBelow:
		m.memTripped = false
		m.gcWait = gcMinWait
		m.memErr.Store(nil)
		m.logger.Info("memory below the high watermark again: accepting publishes",
			"heap", bytesize.Format(v), "watermark", bytesize.Format(high))
	}
	m.heapSample.Store(v)
	if m.memTripped {
		err := fmt.Errorf("%w (heap %s, watermark %s): publishes are refused until consumers drain queues",
			ErrMemoryHigh, bytesize.Format(v), bytesize.Format(high))
		m.memErr.Store(&err)
	}
}

// sampleDisk updates the disk alarm. A file system that cannot be read
// leaves the alarm as it was (and is logged once).
func (m *Monitor) sampleDisk() {
	low := m.cfg.DiskFreeLow
	if low == 0 {
		return
	}
	free, err := m.diskFree(m.cfg.DataDir)
	if err != nil {
		if !m.diskFailing {
			m.logger.Warn("cannot read the free space of the data directory; the disk watermark is not checked meanwhile",
				"dir", m.cfg.DataDir, "error", err)
		}
		m.diskFailing = true
		return
	}
	m.diskFailing = false
	m.diskSample.Store(free)
	clearAbove := uint64(float64(low) * diskClear)
	switch {
	case !m.diskTripped && free < low:
		m.diskTripped = true
		m.logger.Warn("disk free low watermark reached: refusing publishes until space is freed",
			"dir", m.cfg.DataDir, "free", bytesize.Format(free), "watermark", bytesize.Format(low))
	case m.diskTripped && free > clearAbove:
		m.diskTripped = false
		m.diskErr.Store(nil)
		m.logger.Info("disk free space above the low watermark again: accepting publishes",
			"dir", m.cfg.DataDir, "free", bytesize.Format(free), "watermark", bytesize.Format(low))
	}
	if m.diskTripped {
		err := fmt.Errorf("%w (%s free on the file system of %s, watermark %s): publishes are refused until space is freed",
			ErrDiskLow, bytesize.Format(free), m.cfg.DataDir, bytesize.Format(low))
		m.diskErr.Store(&err)
	}
}
