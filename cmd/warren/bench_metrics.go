package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serverJSON is one node's share of a bench report, from its /metrics.
type serverJSON struct {
	URL string `json:"url"`
	// CPUCores is the node's CPU seconds over the run divided by the run's
	// seconds.
	CPUCores float64 `json:"cpu_cores"`
	// RSSBytes is the node's resident set after the run.
	RSSBytes int64  `json:"rss_bytes"`
	Error    string `json:"error,omitempty"`
}

// processSample is what bench reads from a node's /metrics: the standard
// process collector's series.
type processSample struct {
	cpuSeconds float64
	rssBytes   float64
	at         time.Time
	err        error
}

// scrapeTimeout bounds one read of /metrics.
const scrapeTimeout = 5 * time.Second

// scrapeProcess reads process_cpu_seconds_total and
// process_resident_memory_bytes from a Prometheus text exposition at url.
// A URL with user:password@ logs in with HTTP Basic (net/http does that).
func scrapeProcess(ctx context.Context, url string) processSample {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	s := processSample{at: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		s.err = err
		return s
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.err = err
		return s
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		s.err = fmt.Errorf("GET %s: %s", url, resp.Status)
		return s
	}
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		var dst *float64
		switch name {
		case "process_cpu_seconds_total":
			dst = &s.cpuSeconds
		case "process_resident_memory_bytes":
			dst = &s.rssBytes
		default:
			continue
		}
		if *dst, err = strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			found++
		}
	}
	switch {
	case sc.Err() != nil:
		s.err = sc.Err()
	case found < 2:
		s.err = fmt.Errorf("%s has no process_cpu_seconds_total and process_resident_memory_bytes", url)
	}
	return s
}

func scrapeAll(ctx context.Context, urls []string) []processSample {
	out := make([]processSample, len(urls))
	for i, u := range urls {
		out[i] = scrapeProcess(ctx, u)
	}
	return out
}

// serverReport turns the samples before and after a run into the report's
// per-node lines.
func serverReport(urls []string, before, after []processSample) []serverJSON {
	out := make([]serverJSON, len(urls))
	for i, u := range urls {
		b, a := before[i], after[i]
		out[i].URL = u
		switch {
		case b.err != nil:
			out[i].Error = b.err.Error()
		case a.err != nil:
			out[i].Error = a.err.Error()
		default:
			if secs := a.at.Sub(b.at).Seconds(); secs > 0 {
				out[i].CPUCores = (a.cpuSeconds - b.cpuSeconds) / secs
			}
			out[i].RSSBytes = int64(a.rssBytes)
		}
	}
	return out
}

// processCPU returns this process's user + system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
