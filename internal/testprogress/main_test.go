package main

import (
	"strings"
	"testing"
	"time"
)

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestProgress(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	var out strings.Builder
	p := newProgress(&out, c.now)
	stream := strings.Join([]string{
		`{"Action":"start","Package":"m/a"}`,
		`{"Action":"start","Package":"m/b"}`,
		`{"Action":"run","Package":"m/a","Test":"TestOK"}`,
		`{"Action":"output","Package":"m/a","Test":"TestOK","Output":"quiet\n"}`,
		`{"Action":"pass","Package":"m/a","Test":"TestOK","Elapsed":0.1}`,
		`{"Action":"run","Package":"m/a","Test":"TestBad"}`,
		`{"Action":"output","Package":"m/a","Test":"TestBad","Output":"    a_test.go:9: boom\n"}`,
		`{"Action":"fail","Package":"m/a","Test":"TestBad","Elapsed":0.2}`,
		`{"Action":"skip","Package":"m/a","Test":"TestSlow","Elapsed":0}`,
		`{"Action":"output","Package":"m/a","Output":"FAIL\n"}`,
		`{"Action":"output","Package":"m/a","Output":"exit status 1\n"}`,
		`{"Action":"output","Package":"m/a","Output":"FAIL\tm/a\t1.5s\n"}`,
		`{"Action":"fail","Package":"m/a","Elapsed":1.5}`,
		`{"Action":"run","Package":"m/b","Test":"TestLong"}`,
		`not json: go test's own line`,
		`{"ImportPath":"m/c [m/c.test]","Action":"build-output","Output":"c.go:1: syntax error\n"}`,
		`{"ImportPath":"m/c [m/c.test]","Action":"build-fail"}`,
	}, "\n")
	if err := p.read(strings.NewReader(stream)); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(time.Minute)
	p.heartbeat(30 * time.Second) // m/b is still running
	if p.summary() {
		t.Error("summary reports success after failures")
	}
	got := out.String()
	for _, want := range []string{
		"start\tm/a\n",
		"--- FAIL: m/a.TestBad (0.20s)\n    a_test.go:9: boom\n",
		"exit status 1\nFAIL\tm/a\t1.5s\n",
		"not json: go test's own line\n",
		"FAIL\tm/c [m/c.test] [build failed]\nc.go:1: syntax error\n",
		"... 1m0s: still running m/b 1m0s (TestLong)\n",
		"tests: 1 passed, 1 failed, 1 skipped (1m0s)\n",
		"failed packages: m/a m/c [m/c.test]\n",
		"slowest tests:\n      0.2s  m/a.TestBad\n      0.1s  m/a.TestOK\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "FAIL\tm/a") != 1 {
		t.Errorf("the package's FAIL line printed %d times:\n%s", strings.Count(got, "FAIL\tm/a"), got)
	}
	if strings.Contains(got, "quiet") {
		t.Errorf("a passing test's output was printed:\n%s", got)
	}
}
