package fsm

import (
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

func TestTickExpiry(t *testing.T) {
	ttl := qspec(1, "ttl", withTTL(100), withDLX("dlx", ""))
	zero := qspec(2, "zero", withTTL(0))
	plain := qspec(3, "plain")
	deadline := func(want int64) func(*testing.T, *Result, *QueueGroup) {
		return func(t *testing.T, _ *Result, g *QueueGroup) {
			t.Helper()
			if got := g.NextDeadline(); got != want {
				t.Fatalf("next deadline %d, want %d", got, want)
			}
		}
	}
	ready := func(id uint64, want ...string) func(*testing.T, *Result, *QueueGroup) {
		return func(t *testing.T, _ *Result, g *QueueGroup) {
			t.Helper()
			wantStrings(t, "ready", readyBodies(g, id), want)
		}
	}
	expiring := func(body string, ms int64) *fsmpb.EnqueueMessage {
		m := emsg(body, 0)
		m.Payload.Properties = &fsmpb.Properties{ExpirationMs: ms}
		return m
	}
	tests := []struct {
		name  string
		steps []qstep
	}{
		{"queue TTL expires messages on Tick", []qstep{
			{cmd: enqueue1(1000, ttl, "m1"), check: deadline(1100)},
			{cmd: enqueue1(1050, ttl, "m2"), check: deadline(1100)},
			{cmd: tick(1099), check: ready(1, "m1", "m2")},
			{cmd: tick(1100), dead: []string{"expired:dlx/rk.m1:m1"}, check: deadline(1150)},
			{cmd: tick(2000), dead: []string{"expired:dlx/rk.m2:m2"}, check: deadline(0)},
		}},
		{"per-message expiration, the smaller one wins", []qstep{
			{cmd: enqueue(1000, []*fsmpb.QueueSpec{ttl}, expiring("short", 10), expiring("long", 500)), check: deadline(1010)},
			{cmd: tick(1010), dead: []string{"expired:dlx/rk.short:short"}, check: deadline(1100)},
		}},
		{"expiry is checked at the head only", []qstep{
			{cmd: enqueue(1000, []*fsmpb.QueueSpec{plain}, expiring("long", 500), expiring("short", 10)), check: deadline(1500)},
			{cmd: tick(1200), check: ready(3, "long", "short")},
			{cmd: tick(1500), check: ready(3)},
		}},
		{"an expired head is discarded, not delivered", []qstep{
			{cmd: enqueue1(1000, ttl, "m1")},
			{cmd: enqueue1(1500, plain, "x")}, // moves the clock; no Tick
			{cmd: checkout(ttl, "a", "c", 0, false), dead: []string{"expired:dlx/rk.m1:m1"}},
			{cmd: enqueue1(1500, ttl, "m2"), deliv: []string{"a/c#1:m2"}},
		}},
		{"TTL 0 delivers only within the same command", []qstep{
			{cmd: checkout(zero, "a", "c", 1, false)},
			{cmd: enqueue1(1000, zero, "m1", "m2"), deliv: []string{"a/c#1:m1"}, check: deadline(1000)},
			{cmd: settle(ctags(2, "a", "c", 1)), check: ready(2)},
		}},
		{"the clock never goes back", []qstep{
			{cmd: enqueue1(1000, ttl, "m1")},
			{cmd: tick(5000), dead: []string{"expired:dlx/rk.m1:m1"}},
			{cmd: enqueue1(1000, ttl, "m2"), check: deadline(5100)},
			{cmd: tick(0), check: ready(1, "m2")},
		}},
		{"returned messages keep their expiry", []qstep{
			{cmd: checkout(ttl, "a", "c", 0, false)},
			{cmd: enqueue1(1000, ttl, "m1"), deliv: []string{"a/c#1:m1"}},
			{cmd: cancel(1, "a", "c"), check: deadline(1100)},
			{cmd: tick(1100), dead: []string{"expired:dlx/rk.m1:m1"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runSteps(t, tt.steps) })
	}
}
