package chaos

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFailoverStats(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	ts := []FailoverTrial{{FirstConfirm: ms(30)}, {FirstConfirm: -1}, {FirstConfirm: ms(10)}, {FirstConfirm: ms(20)}, {FirstConfirm: ms(90)}}
	s := failoverStats(ts, func(t FailoverTrial) time.Duration { return t.FirstConfirm })
	if s != (FailoverStats{N: 4, Missed: 1, Median: ms(25), Max: ms(90)}) {
		t.Errorf("stats %+v", s)
	}
	if s := failoverStats(ts[:1], func(t FailoverTrial) time.Duration { return t.FirstConfirm }); s.Median != ms(30) || s.Max != ms(30) {
		t.Errorf("one trial: %+v", s)
	}
}

// TestFirstLogAfter reads hclog's text lines: the first line at or after
// the time that holds every string, matching the group as a whole word.
func TestFirstLogAfter(t *testing.T) {
	p := filepath.Join(t.TempDir(), "n1.log")
	log := `=== chaos: start 2026-12-05T02:30:31.285403934Z warren-node
2026-12-05T02:30:34.000Z [INFO]  warren.raft.q1: entering leader state: group=q1 node=n1
2026-12-05T02:30:36.523Z [INFO]  warren.raft.q10: entering leader state: group=q10 node=n1
2026-12-05T02:30:37.040Z [INFO]  warren.raft.q1: entering leader state: group=q1 node=n1
`
	if err := os.WriteFile(p, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 5, 2, 30, 35, 0, time.UTC)
	got, ok := firstLogAfter(p, at, "entering leader state", "group=q1 ")
	if want := time.Date(2026, 12, 5, 2, 30, 37, 40e6, time.UTC); !ok || !got.Equal(want) {
		t.Errorf("got %v %v, want %v", got, ok, want)
	}
	if _, ok := firstLogAfter(p, at.Add(time.Hour), "entering leader state"); ok {
		t.Error("found a line after the log's end")
	}
}
