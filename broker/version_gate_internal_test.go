package broker

import (
	"errors"
	"testing"

	"github.com/warrenmq/warren/cluster"
	"github.com/warrenmq/warren/fsm"
)

// TestFeatureArgsWaitForTheUpgrade: while a gate is closed (a node of an
// older build in the group), the arguments of FSM version 3 are refused
// with FAILED_PRECONDITION, with or without the x- prefix, and the others
// pass; this build gossips the version it proposes.
func TestFeatureArgsWaitForTheUpgrade(t *testing.T) {
	var closed *versionGate
	if closed.ok() {
		t.Fatal("a nil gate is open")
	}
	if (&versionGate{version: featuresVersion}).ok() {
		t.Fatal("a gate without a group is open")
	}
	for _, name := range []string{"x-expires", "single-active-consumer", "x-max-priority", "x-consumer-timeout"} {
		err := checkFeatureArgs(map[string]Value{name: {Type: ValueInt, Int: 1}})
		if !errors.Is(err, fsm.ErrPrecondition) {
			t.Errorf("%s with the gate closed: %v, want a precondition error", name, err)
		}
	}
	if err := checkFeatureArgs(map[string]Value{"x-max-length": {Type: ValueInt, Int: 1}}); err != nil {
		t.Errorf("x-max-length with the gate closed: %v", err)
	}
	if cluster.FSMVersion < featuresVersion {
		t.Fatalf("this build gossips FSM version %d but proposes features of version %d", cluster.FSMVersion, featuresVersion)
	}
}
