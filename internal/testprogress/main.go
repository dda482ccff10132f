// Command testprogress turns the event stream of `go test -json` (on
// stdin) into progress for people: a line when a package starts and one
// when it ends ("ok", "FAIL" or "?" and its time, as go test prints them),
// the output of every failed test, a line every -every while nothing else
// was printed saying what still runs, and a closing count with the
// slowest tests (the full tier has a time budget, see
// README "Run the tests"). It exits 1 when a test, a package or a build
// failed. scripts/test.sh pipes go test through it: go test alone is
// silent while a package runs, and the e2e package runs for minutes.
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	every := flag.Duration("every", 30*time.Second, "say what still runs after this long without output")
	flag.Parse()
	p := newProgress(os.Stdout, time.Now)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Look often, so the line comes close to -every after the last.
		t := time.NewTicker(max(*every/10, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p.heartbeat(*every)
			}
		}
	}()
	err := p.read(os.Stdin)
	close(stop)
	wg.Wait()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testprogress:", err)
		os.Exit(1)
	}
	if !p.summary() {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build events
	Test       string
	Elapsed    float64
	Output     string
}

// pkgState is what is known of one package while it runs.
type pkgState struct {
	started time.Time
	test    string              // the test that ran last
	output  map[string][]string // per test ("" for the package), until it ends
}

// progress holds the state of the stream; safe for the reader and the
// heartbeat.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	now     func() time.Time
	start   time.Time
	last    time.Time // when something was last printed
	running map[string]*pkgState
	builds  map[string][]string // build output per import path

	passed, failed, skipped int // tests
	failedPkgs              []string
	durations               []testDuration // top-level tests that ran
}

// testDuration is how long one top-level test took.
type testDuration struct {
	name    string // package.Test
	elapsed time.Duration
}

// slowestShown is how many of the slowest tests the summary names.
const slowestShown = 10

func newProgress(w io.Writer, now func() time.Time) *progress {
	t := now()
	return &progress{w: w, now: now, start: t, last: t, running: map[string]*pkgState{}, builds: map[string][]string{}}
}

func (p *progress) printf(format string, args ...any) {
	fmt.Fprintf(p.w, format, args...)
	p.last = p.now()
}

// read consumes the stream until EOF. A line that is not an event (go
// test's own messages) is printed as it is.
func (p *progress) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			p.mu.Lock()
			p.printf("%s\n", line)
			p.mu.Unlock()
			continue
		}
		p.handle(e)
	}
	return sc.Err()
}

func (p *progress) handle(e event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Action {
	case "build-output":
		p.builds[e.ImportPath] = append(p.builds[e.ImportPath], e.Output)
		return
	case "build-fail":
		p.printf("FAIL\t%s [build failed]\n%s", e.ImportPath, strings.Join(p.builds[e.ImportPath], ""))
		p.failedPkgs = append(p.failedPkgs, e.ImportPath)
		return
	}
	if e.Package == "" {
		return
	}
	s := p.running[e.Package]
	if s == nil {
		s = &pkgState{started: p.now(), output: map[string][]string{}}
		p.running[e.Package] = s
		if e.Action == "start" {
			p.printf("start\t%s\n", e.Package)
		}
	}
	switch e.Action {
	case "run":
		s.test = e.Test
	case "output":
		s.output[e.Test] = append(s.output[e.Test], e.Output)
	case "pass", "fail", "skip":
		if e.Test != "" {
			p.testDone(s, e)
			return
		}
		p.pkgDone(s, e)
	}
}

// testDone counts a test, and prints its output when it failed.
func (p *progress) testDone(s *pkgState, e event) {
	sub := strings.Contains(e.Test, "/")
	if !sub && e.Action != "skip" {
		p.durations = append(p.durations, testDuration{e.Package + "." + e.Test, time.Duration(e.Elapsed * float64(time.Second))})
	}
	switch e.Action {
	case "pass":
		if !sub {
			p.passed++
		}
	case "skip":
		if !sub {
			p.skipped++
		}
	case "fail":
		if !sub {
			p.failed++
			p.printf("--- FAIL: %s.%s (%.2fs)\n%s", e.Package, e.Test, e.Elapsed, strings.Join(s.output[e.Test], ""))
		}
	}
	delete(s.output, e.Test)
}

// pkgDone prints the package's closing line (go test's format), and for a
// failed package the output that belongs to no failed test (a panic, a
// TestMain failure).
func (p *progress) pkgDone(s *pkgState, e event) {
	delete(p.running, e.Package)
	switch e.Action {
	case "pass":
		p.printf("ok  \t%s\t%.1fs\n", e.Package, e.Elapsed)
	case "skip":
		p.printf("?   \t%s\t[no test files]\n", e.Package)
	case "fail":
		var rest []string
		for _, lines := range s.output {
			for _, l := range lines {
				// go test's own closing lines; this prints its own.
				if l == "PASS\n" || l == "FAIL\n" || strings.HasPrefix(l, "FAIL\t") || strings.HasPrefix(l, "ok  \t") {
					continue
				}
				rest = append(rest, l)
			}
		}
		p.printf("%sFAIL\t%s\t%.1fs\n", strings.Join(rest, ""), e.Package, e.Elapsed)
		p.failedPkgs = append(p.failedPkgs, e.Package)
	}
}

// heartbeat prints what still runs when nothing was printed for every.
func (p *progress) heartbeat(every time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if now.Sub(p.last) < every || len(p.running) == 0 {
		return
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(p.running)) {
		s := p.running[name]
		part := fmt.Sprintf("%s %v", name, now.Sub(s.started).Round(time.Second))
		if s.test != "" {
			part += " (" + s.test + ")"
		}
		parts = append(parts, part)
	}
	p.printf("... %v: still running %s\n", now.Sub(p.start).Round(time.Second), strings.Join(parts, ", "))
}

// summary prints the closing count and reports whether all passed.
func (p *progress) summary() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.printf("tests: %d passed, %d failed, %d skipped (%v)\n", p.passed, p.failed, p.skipped, p.now().Sub(p.start).Round(time.Second))
	slices.SortStableFunc(p.durations, func(a, b testDuration) int { return cmp.Compare(b.elapsed, a.elapsed) })
	if n := min(len(p.durations), slowestShown); n > 0 {
		p.printf("slowest tests:\n")
		for _, d := range p.durations[:n] {
			p.printf("  %7.1fs  %s\n", d.elapsed.Seconds(), d.name)
		}
	}
	if len(p.failedPkgs) > 0 {
		p.printf("failed packages: %s\n", strings.Join(p.failedPkgs, " "))
	}
	return p.failed == 0 && len(p.failedPkgs) == 0
}
