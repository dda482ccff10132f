package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// bench floor runs its raft3-procs+grpc voters as this executable
	// again: here, the test binary.
	if code, ok := floorVoterMain(); ok {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}

// warren runs the CLI with args (stdin as given) and returns its exit status
// and output.
func warren(t *testing.T, addr, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if k == "WARREN_SERVER" {
			return addr
		}
		return ""
	}
	code = run(ctx, args, strings.NewReader(stdin), &out, &errOut, getenv)
	return code, out.String(), errOut.String()
}

func TestParseKV(t *testing.T) {
	got, err := parseKV("arg", []string{"n=42", "b=true", "f=false", "s=hello", "e=", "p", "x-match=any", "neg=-3", "big=1e3"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"n": int64(42), "b": true, "f": false, "s": "hello", "e": "", "p": nil,
		"x-match": "any", "neg": int64(-3), "big": "1e3",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseKV = %#v, want %#v", got, want)
	}
	if _, err := parseKV("arg", []string{"=v"}); err == nil {
		t.Fatal("empty key accepted")
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"bogus"},
		{"queue", "bogus"},
		{"queue", "delete"},
		{"queue", "list", "extra"},
		{"exchange", "declare", "x"},
		{"publish", "ex"},
		{"--output", "yaml", "queue", "list"},
		{"queue", "list", "--no-such-flag"},
		{"consume", "q", "--auto-ack", "--requeue-on-exit"},
		{"bench", "--size", "4"},
		{"bench", "--size", "4 lots"},
		{"bench", "--size", "1GiB"},
		{"bind", "ex", "q", "--arg", "=v"},
	} {
		code, _, stderr := warren(t, "127.0.0.1:1", "", args...)
		if code != 2 || !strings.HasPrefix(stderr, "warren: ") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a warren: message", args, code, stderr)
		}
	}
}

func TestUnreachableServerExit1(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	_ = lis.Close()
	code, _, stderr := warren(t, dead, "", "queue", "list", "--timeout", "5s")
	if code != 1 || !strings.Contains(stderr, "(Unavailable)") {
		t.Fatalf("exit %d, stderr %q; want 1 and Unavailable", code, stderr)
	}
}

func TestServerErrorShowsStatus(t *testing.T) {
	addr := startMem(t, newMemBroker())
	code, _, stderr := warren(t, addr, "", "get", "missing")
	if code != 1 || stderr != "warren: queue \"missing\" not found (NotFound)\n" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestQueueCommands(t *testing.T) {
	addr := startMem(t, newMemBroker())
	code, out, _ := warren(t, addr, "", "queue", "declare")
	if code != 0 || out != "amq.gen-1\n" {
		t.Fatalf("queue declare: exit %d, %q", code, out)
	}
	if code, out, _ = warren(t, addr, "", "queue", "declare", "work", "--arg", "max-length=10"); code != 0 || out != "work\n" {
		t.Fatalf("queue declare work: exit %d, %q", code, out)
	}
	code, out, _ = warren(t, "", "", "--server", addr, "queue", "list")
	if code != 0 || !strings.Contains(out, "NAME") || !strings.Contains(out, "CONSUMERS") || !strings.Contains(out, "work") {
		t.Fatalf("queue list: exit %d, %q", code, out)
	}
	code, out, _ = warren(t, addr, "", "queue", "list", "-o", "json")
	var qs []map[string]any
	if err := json.Unmarshal([]byte(out), &qs); code != 0 || err != nil || len(qs) != 2 {
		t.Fatalf("queue list -o json: exit %d, %q, %v", code, out, err)
	}
	if code, out, _ = warren(t, addr, "", "queue", "delete", "work"); code != 0 || !strings.Contains(out, "deleted queue \"work\"") {
		t.Fatalf("queue delete: exit %d, %q", code, out)
	}
	if code, _, _ = warren(t, addr, "", "bind", "amq.headers", "amq.gen-1", "--arg", "x-match=any", "--arg", "trace"); code != 0 {
		t.Fatalf("bind: exit %d", code)
	}
	code, out, _ = warren(t, addr, "", "binding", "list")
	if code != 0 || !strings.Contains(out, "trace,x-match=any") {
		t.Fatalf("binding list: exit %d, %q", code, out)
	}
}

func TestPublishGetConsume(t *testing.T) {
	b := newMemBroker()
	addr := startMem(t, b)
	if code, _, _ := warren(t, addr, "", "queue", "declare", "q"); code != 0 {
		t.Fatal("declare failed")
	}
	code, out, _ := warren(t, addr, "", "publish", "", "q", "hello", "--header", "n=1")
	if code != 0 || out != "confirmed\n" {
		t.Fatalf("publish: exit %d, %q", code, out)
	}
	code, out, _ = warren(t, addr, "", "get", "q", "--ack", "-o", "json")
	var d map[string]any
	if err := json.Unmarshal([]byte(out), &d); code != 0 || err != nil || d["body"] != "hello" {
		t.Fatalf("get: exit %d, %q, %v", code, out, err)
	}
	if h, _ := d["headers"].(map[string]any); h["n"] != float64(1) {
		t.Fatalf("get headers %v", d["headers"])
	}
	waitAcks(t, b, 1) // get --ack settles through the Settle RPC
	if code, out, _ = warren(t, addr, "", "get", "q"); code != 0 || out != "queue is empty\n" {
		t.Fatalf("get empty: exit %d, %q", code, out)
	}
	code, out, _ = warren(t, addr, "from stdin", "publish", "", "q", "--count", "3")
	if code != 0 || out != "published 3: confirmed=3 unroutable=0 rejected=0\n" {
		t.Fatalf("publish --count: exit %d, %q", code, out)
	}
	code, out, _ = warren(t, addr, "", "consume", "q", "--count", "3", "-o", "json")
	if code != 0 {
		t.Fatalf("consume: exit %d", code)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	lines := 0
	for sc.Scan() {
		lines++
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"body", "routing_key", "exchange", "redelivered", "delivery_count", "delivery_tag", "headers"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("consume line %q lacks %s", sc.Text(), k)
			}
		}
		if m["body"] != "from stdin" {
			t.Fatalf("body %v", m["body"])
		}
	}
	if lines != 3 {
		t.Fatalf("%d lines, want 3", lines)
	}
	waitAcks(t, b, 3)
	if code, _, _ = warren(t, addr, "", "publish", "", "q", "text body"); code != 0 {
		t.Fatal("publish failed")
	}
	// The text line names its fields (issue 10: "[1] …" read as a shell
	// job number).
	if code, out, _ = warren(t, addr, "", "consume", "q", "--count", "1"); code != 0 || !regexp.MustCompile(`^tag=\d+ consumer=ctag-1 key=q redelivered=false text body\n$`).MatchString(out) {
		t.Fatalf("consume text: exit %d, %q", code, out)
	}
	if code, _, _ = warren(t, addr, "", "publish", "", "q", "got body"); code != 0 {
		t.Fatal("publish failed")
	}
	if code, out, _ = warren(t, addr, "", "get", "q", "--ack"); code != 0 || !regexp.MustCompile(`^tag=\d+ key=q redelivered=false got body\n$`).MatchString(out) {
		t.Fatalf("get text: exit %d, %q", code, out)
	}
}

func TestField(t *testing.T) {
	for in, want := range map[string]string{"jobs": "jobs", "": `""`, "a b": `"a b"`, `a"b`: `"a\"b"`, "a\tb": `"a\tb"`, "ü.x": "ü.x"} {
		if got := field(in); got != want {
			t.Errorf("field(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestPublishUnroutableAndRejectedExit1(t *testing.T) {
	addr := startMem(t, newMemBroker())
	code, out, stderr := warren(t, addr, "", "publish", "", "nowhere", "x", "--mandatory")
	if code != 1 || out != "unroutable\n" || !strings.Contains(stderr, "unroutable") {
		t.Fatalf("exit %d, out %q, stderr %q", code, out, stderr)
	}
	code, out, _ = warren(t, addr, "", "publish", "", "nowhere", "x")
	if code != 0 || out != "confirmed\n" {
		t.Fatalf("without --mandatory: exit %d, out %q", code, out)
	}
	code, out, stderr = warren(t, addr, "", "publish", "", "reject", "x", "-o", "json")
	if code != 1 || !strings.Contains(out, `"rejected":1`) || !strings.Contains(stderr, "queue full") {
		t.Fatalf("rejected: exit %d, out %q, stderr %q", code, out, stderr)
	}
}

func TestBench(t *testing.T) {
	// --size takes a unit as every size option does (internal/bytesize).
	for confirm, size := range map[string]string{"--confirm=true": "64", "--confirm=false": "1KiB"} {
		b := newMemBroker()
		addr := startMem(t, b)
		code, out, stderr := warren(t, addr, "", "bench", "--count", "300", "--producers", "2", "--consumers", "2",
			"--batch", "4", "--size", size, confirm, "-o", "json")
		if code != 0 {
			t.Fatalf("%s: exit %d, stderr %q", confirm, code, stderr)
		}
		var res benchResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"64": 64, "1KiB": 1024}[size]; res.Size != want {
			t.Fatalf("--size %s: body of %d bytes, want %d", size, res.Size, want)
		}
		if res.Published != 300 || res.Consumed != 300 || res.EndToEnd == nil {
			t.Fatalf("%s: %+v", confirm, res)
		}
		if (res.Confirm != nil) != (confirm == "--confirm=true") {
			t.Fatalf("%s: confirm latency %v", confirm, res.Confirm)
		}
		b.mu.Lock()
		left := len(b.queues)
		b.mu.Unlock()
		if left != 0 {
			t.Fatalf("%s: %d queues left; the bench queue should be deleted", confirm, left)
		}
	}
}

// waitAcks waits for n settles to reach b.
func waitAcks(t *testing.T, b *memBroker, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for i := range n {
		select {
		case <-b.acks:
		case <-timeout:
			t.Fatalf("%d settles arrived, want %d", i, n)
		}
	}
}

// TestPercentilesFromHistogram: the bench's p50 and p99 come from an HDR
// histogram, within its 3 significant digits, and an empty one gives none.
func TestPercentilesFromHistogram(t *testing.T) {
	var w workerStats
	if w.lat != nil || percentiles(newLatencyHistogram()) != nil {
		t.Fatal("an empty histogram has percentiles")
	}
	for i := 1; i <= 1000; i++ { // 1 ms … 1 s
		w.sample(time.Duration(i) * time.Millisecond)
	}
	w.sample(2 * time.Hour) // beyond the range: counted as its top
	// 1001 samples: the 501st is 501 ms, the 991st 991 ms.
	got := percentiles(w.lat)
	near := func(v, want float64) bool { return v >= want*0.999 && v <= want*1.001 }
	if got == nil || !near(got.P50Ms, 501) || !near(got.P99Ms, 991) {
		t.Fatalf("percentiles %+v, want p50 ≈ 501 ms and p99 ≈ 991 ms", got)
	}
}

// TestBenchFloor: bench floor measures its eight steps (here for a moment)
// and reports each with latencies and CPU; bad flags and --server are
// refused with exit 2.
func TestBenchFloor(t *testing.T) {
	code, out, stderr := warren(t, "", "", "bench", "floor", "--duration", "200ms", "--rate", "200", "--dir", t.TempDir(), "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res floorResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var names []string
	for _, s := range res.Steps {
		names = append(names, s.Name)
		if s.Ops != 40 || s.Latency.Count != 40 || s.CPUPerOp <= 0 {
			t.Errorf("step %s: %d ops, %d latencies, %.1f µs CPU an op; want 40, 40 and some CPU", s.Name, s.Ops, s.Latency.Count, s.CPUPerOp)
		}
	}
	if want := []string{"timer", "hand-off", "fdatasync", "grpc", "raft+grpc", "raft-procs+grpc", "raft3+grpc", "raft3-procs+grpc"}; !reflect.DeepEqual(names, want) || len(res.Errors) > 0 {
		t.Fatalf("steps %v, errors %v; want %v", names, res.Errors, want)
	}
	for _, args := range [][]string{
		{"bench", "floor", "--rate", "0"},
		{"bench", "floor", "--duration", "11m"},
		{"bench", "floor", "--size", "0"},
		{"--server", "127.0.0.1:1", "bench", "floor"},
	} {
		if code, _, stderr := warren(t, "", "", args...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, stderr)
		}
	}
}
