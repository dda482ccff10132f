package watermark

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/warrenmq/warren/internal/bytesize"
)

// fakeMonitor returns a monitor whose heap and disk samples are the
// values *heap and *free hold (a test of this package's state machine, not
// of the runtime), with a clock that moves only when the test moves it,
// and a collector that counts calls and sets the heap to *afterGC when
// that is not zero.
type fake struct {
	heap, afterGC, free uint64
	diskErr             error
	collects            int
	clock               time.Time
}

func fakeMonitor(cfg Config) (*Monitor, *fake) {
	f := &fake{clock: time.Unix(1000, 0)}
	m := New(cfg)
	m.heapBytes = func() uint64 { return f.heap }
	m.diskFree = func(string) (uint64, error) { return f.free, f.diskErr }
	m.collect = func() {
		f.collects++
		if f.afterGC != 0 {
			f.heap = f.afterGC
		}
	}
	m.now = func() time.Time { return f.clock }
	return m, f
}

func TestMemoryAlarmHysteresis(t *testing.T) {
	const high = 1000 << 20
	m, f := fakeMonitor(Config{MemoryHigh: high})
	steps := []struct {
		heap    uint64
		advance time.Duration
		tripped bool
	}{
		{500 << 20, 0, false},
		{999 << 20, 0, false},
		{1000 << 20, 0, true}, // at the watermark
		{1200 << 20, 0, true},
		{950 << 20, 0, true}, // below the watermark but above 90 %
		{901 << 20, 0, true},
		{899 << 20, 0, false}, // below 90 %: clears
		{950 << 20, 0, false}, // stays clear until the watermark again
		{1001 << 20, 0, true},
	}
	for i, s := range steps {
		f.heap = s.heap
		f.clock = f.clock.Add(s.advance)
		m.sampleMemory()
		err := m.Check()
		if (err != nil) != s.tripped {
			t.Fatalf("step %d: heap %s: Check() = %v, want tripped=%t", i, bytesize.Format(s.heap), err, s.tripped)
		}
		if err != nil {
			if !errors.Is(err, ErrMemoryHigh) || errors.Is(err, ErrDiskLow) {
				t.Fatalf("step %d: %v does not wrap ErrMemoryHigh alone", i, err)
			}
			want := "node memory above high watermark (heap " + bytesize.Format(s.heap) + ", watermark 1000 MiB): publishes are refused until consumers drain queues"
			if err.Error() != want {
				t.Fatalf("step %d: message %q, want %q", i, err, want)
			}
		}
	}
}

// A heap above the watermark only by garbage does not trip the alarm: a
// collection comes first.
func TestMemoryAlarmCollectsBeforeTripping(t *testing.T) {
	m, f := fakeMonitor(Config{MemoryHigh: 100})
	f.heap, f.afterGC = 150, 40
	m.sampleMemory()
	if err := m.Check(); err != nil || f.collects != 1 {
		t.Fatalf("after a collection down to 40 of 100: Check() = %v after %d collections; want nil after 1", err, f.collects)
	}
	// Live data above the watermark trips it even after a collection.
	f.heap, f.afterGC = 150, 120
	f.clock = f.clock.Add(gcMinWait)
	m.sampleMemory()
	if err := m.Check(); !errors.Is(err, ErrMemoryHigh) {
		t.Fatalf("live heap 120 of 100: Check() = %v, want ErrMemoryHigh", err)
	}
}

// While tripped by live data the monitor collects with a growing wait (it
// need not mark a big heap ten times a second), and once the data is gone
// a collection clears the alarm without any allocation to trigger one.
func TestMemoryAlarmCollectionBackoff(t *testing.T) {
	m, f := fakeMonitor(Config{MemoryHigh: 100})
	f.heap = 200
	m.sampleMemory() // collects (nothing freed) and trips
	if m.Check() == nil || f.collects != 1 {
		t.Fatalf("not tripped (%v) or %d collections", m.Check(), f.collects)
	}
	var at []time.Duration
	start := f.clock
	for i := 0; i < 600; i++ { // one minute of 100 ms samples
		f.clock = f.clock.Add(100 * time.Millisecond)
		before := f.collects
		m.sampleMemory()
		if f.collects != before {
			at = append(at, f.clock.Sub(start))
		}
	}
	want := []time.Duration{1 * time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second, 30 * time.Second, 45 * time.Second, 60 * time.Second}
	if len(at) != len(want) {
		t.Fatalf("collections at %v, want %v", at, want)
	}
	for i := range want {
		if d := at[i] - want[i]; d < -time.Millisecond || d > 101*time.Millisecond {
			t.Fatalf("collections at %v, want %v", at, want)
		}
	}
	// Consumers drained the queues; what is left is garbage.
	f.afterGC = 10
	f.clock = f.clock.Add(gcMaxWait)
	m.sampleMemory()
	if err := m.Check(); err != nil {
		t.Fatalf("after the data went: %v", err)
	}
	if m.gcWait != gcMinWait {
		t.Fatalf("collection wait %v after clearing, want %v", m.gcWait, gcMinWait)
	}
}

func TestDiskAlarmHysteresis(t *testing.T) {
	const low = 1000
	m, f := fakeMonitor(Config{DiskFreeLow: low, DataDir: "/data"})
	steps := []struct {
		free    uint64
		err     error
		tripped bool
	}{
		{5000, nil, false},
		{1000, nil, false}, // at the watermark: still room
		{999, nil, true},
		{1050, nil, true},                     // above the watermark but not 110 %
		{0, errors.New("statfs: gone"), true}, // unreadable: unchanged
		{1100, nil, true},
		{1101, nil, false}, // above 110 %: clears
		{0, errors.New("statfs: gone"), false},
		{1050, nil, false},
		{10, nil, true},
	}
	for i, s := range steps {
		f.free, f.diskErr = s.free, s.err
		m.sampleDisk()
		err := m.Check()
		if (err != nil) != s.tripped {
			t.Fatalf("step %d: free %d (%v): Check() = %v, want tripped=%t", i, s.free, s.err, err, s.tripped)
		}
		if err != nil && (!errors.Is(err, ErrDiskLow) || !strings.Contains(err.Error(), "on the file system of /data, watermark 1000 B): publishes are refused until space is freed")) {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if m.memTripped || f.collects != 0 {
		t.Fatal("the disk alarm touched the memory alarm")
	}
}

// The memory alarm is reported first when both are tripped; zero
// watermarks watch nothing; a nil monitor has room.
func TestCheckPrecedenceAndOff(t *testing.T) {
	m, f := fakeMonitor(Config{MemoryHigh: 100, DiskFreeLow: 100})
	f.heap, f.free = 500, 5
	m.sampleMemory()
	m.sampleDisk()
	if err := m.Check(); !errors.Is(err, ErrMemoryHigh) {
		t.Fatalf("both tripped: %v, want the memory alarm", err)
	}
	f.heap = 1
	f.clock = f.clock.Add(time.Minute)
	m.sampleMemory()
	if err := m.Check(); !errors.Is(err, ErrDiskLow) {
		t.Fatalf("disk tripped: %v", err)
	}

	off, f := fakeMonitor(Config{})
	f.heap, f.free = 1<<62, 0
	off.sampleMemory()
	off.sampleDisk()
	if err := off.Check(); err != nil || f.collects != 0 {
		t.Fatalf("watermarks off: %v, %d collections", err, f.collects)
	}
	var none *Monitor
	if err := none.Check(); err != nil {
		t.Fatalf("nil monitor: %v", err)
	}
}

// The real samplers: any Go program has more than one byte of heap, and
// no disk has 2^62 bytes free. Start samples before it returns.
func TestMonitorRealSamplers(t *testing.T) {
	m := New(Config{MemoryHigh: 1, DiskFreeLow: 1 << 62, DataDir: t.TempDir(), MemoryInterval: 10 * time.Millisecond, DiskInterval: 10 * time.Millisecond})
	m.Start()
	defer m.Close()
	err := m.Check()
	if !errors.Is(err, ErrMemoryHigh) {
		t.Fatalf("heap above a 1-byte watermark: %v", err)
	}
	var re interface{ ResourceExhausted() bool }
	if !errors.As(err, &re) || !re.ResourceExhausted() {
		t.Fatalf("%v does not mark itself as resource exhaustion for transport", err)
	}
	if m.heapBytes() == 0 {
		t.Fatalf("%s reads 0", heapMetric)
	}
	free, err := diskFree(t.TempDir())
	if err != nil || free == 0 {
		t.Fatalf("statfs of a temp dir: %d bytes free, %v", free, err)
	}
	disk := New(Config{DiskFreeLow: 1 << 62, DataDir: t.TempDir()})
	disk.Start()
	if err := disk.Check(); !errors.Is(err, ErrDiskLow) {
		t.Fatalf("disk with less than 4 EiB free: %v", err)
	}
	disk.Close()
	disk.Close() // idempotent
}

// TestDefaultMemoryHigh: 40 % of the smaller of the machine's memory and
// the cgroup limit, 0 when neither is known; and on this machine a
// watermark that fits its memory.
func TestDefaultMemoryHigh(t *testing.T) {
	const gib = 1 << 30
	for _, c := range []struct{ total, cgroup, want uint64 }{
		{10 * gib, 0, 4 * gib},        // no cgroup limit
		{10 * gib, 5 * gib, 2 * gib},  // the cgroup is tighter
		{10 * gib, 20 * gib, 4 * gib}, // a cgroup limit above the RAM
		{0, 5 * gib, 2 * gib},         // no RAM figure
		{0, 0, 0},                     // nothing known: no watermark
	} {
		if got := defaultMemoryHigh(c.total, c.cgroup); got != c.want {
			t.Errorf("defaultMemoryHigh(%d, %d) = %d, want %d", c.total, c.cgroup, got, c.want)
		}
	}
	total, err := memlimit.FromSystem()
	if err != nil {
		t.Skipf("no system memory figure here: %v", err)
	}
	got := DefaultMemoryHigh()
	t.Logf("RAM %s, cgroup limit %s (0: none): default watermark %s",
		bytesize.Format(total), bytesize.Format(cgroupLimit()), bytesize.Format(got))
	if got == 0 || got > total/2 {
		t.Fatalf("DefaultMemoryHigh() = %s of %s", bytesize.Format(got), bytesize.Format(total))
	}
}

// Status reports the alarms, the watermarks and the last samples.
func TestStatus(t *testing.T) {
	m, f := fakeMonitor(Config{MemoryHigh: 100, DiskFreeLow: 100})
	f.heap, f.free = 50, 500
	m.sampleMemory()
	m.sampleDisk()
	want := Status{MemoryHigh: 100, DiskFreeLow: 100, HeapBytes: 50, DiskFreeBytes: 500}
	if got := m.Status(); got != want {
		t.Fatalf("Status() = %+v, want %+v", got, want)
	}
	f.heap, f.free = 500, 5
	m.sampleMemory()
	m.sampleDisk()
	want = Status{MemoryAlarm: true, DiskAlarm: true, MemoryHigh: 100, DiskFreeLow: 100, HeapBytes: 500, DiskFreeBytes: 5}
	if got := m.Status(); got != want {
		t.Fatalf("Status() = %+v, want %+v", got, want)
	}
	var none *Monitor
	if got := none.Status(); got != (Status{}) {
		t.Fatalf("nil Status() = %+v", got)
	}
}
