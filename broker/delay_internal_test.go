package broker

import (
	"hash/fnv"
	"testing"
)

// TestDelayGroup: the group of an exchange's delayed messages is FNV-1a of
// vhost, NUL, name modulo the groups ("" is "/"), as
// e2e's TestDelayedDeliveryLeaderKill computes it to find that group's
// leader.
func TestDelayGroup(t *testing.T) {
	h := fnv.New32a()
	h.Write([]byte("/\x00dly.cl"))
	want := int(h.Sum32() % 4)
	if got := delayGroup("", "dly.cl", 4); got != want || delayGroup("/", "dly.cl", 4) != want {
		t.Fatalf("delayGroup = %d, want %d", got, want)
	}
}
