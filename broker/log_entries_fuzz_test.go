package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/cluster/raftgroup"
	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
)

// badEntries are log entries that once stopped a group, or could: an
// unknown command type, a DeclareQueue whose name is not UTF-8, one whose
// name is 204,800 bytes, a queue command in the meta group and a meta
// command in a queue group, a body that is no protobuf, and the empty
// entry.
func badEntries(t testing.TB) [][]byte {
	longName, err := fsm.Encode(&fsmpb.DeclareQueue{Name: strings.Repeat("n", 204800)})
	if err != nil {
		t.Fatal(err)
	}
	tick, err := fsm.Encode(&fsmpb.Tick{NowMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	bind, err := fsm.Encode(&fsmpb.Bind{Exchange: "amq.direct", Queue: "q", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	// [version 1][DeclareQueue 3][field 1, length 2, 0xff 0xfe]
	notUTF8 := []byte{1, 3, 0x0a, 2, 0xff, 0xfe}
	return [][]byte{{1, 99, 0, 0, 0}, notUTF8, longName, tick, bind, {1, 20, 0xff, 0xff, 0xff}, {}, {7}}
}

// logTarget is a single node with a queue for the serving check.
type logTarget struct {
	n      *testNode
	groups []*raftgroup.Group // the meta group and a queue group
	probes atomic.Int64
}

func startLogTarget(t testing.TB, dataDir string) *logTarget {
	cfg := nodeConfig(t, "n1", 2, 1, nil)
	if dataDir != "" {
		cfg.Cluster.DataDir = dataDir
	}
	if _, fuzzing := t.(*testing.F); fuzzing {
		// A fuzz target may not log through f; the node logs nowhere.
		cfg.Cluster.Logger = hclog.NewNullLogger()
	}
	n := startTestNode(t, cfg)
	waitReady(t, n)
	return &logTarget{n: n, groups: []*raftgroup.Group{n.node.Group("meta"), n.node.Group("q0")}}
}

// appendEverywhere appends data to every group kind through Raft and the
// state machine, as a forwarded raw command would.
func (lt *logTarget) appendEverywhere(t testing.TB, data []byte) {
	for _, g := range lt.groups {
		ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout(10*time.Second))
		res, _, err := raftgroup.Propose[*fsm.Result](ctx, g, data)
		cancel()
		if errors.Is(err, raftgroup.ErrEntryTooLarge) {
			continue
		}
		if err != nil {
			t.Fatalf("append %d bytes to %s: %v", len(data), g.Name(), err)
		}
		if res == nil {
			t.Fatalf("append to %s: no result", g.Name())
		}
	}
}

// checkServing declares a fresh queue, publishes to it and gets the
// message back: the meta group and the queue groups still apply commands.
func (lt *logTarget) checkServing(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout(10*time.Second))
	defer cancel()
	b := lt.n.b
	name := fmt.Sprintf("probe-%d", lt.probes.Add(1))
	if _, _, err := b.DeclareQueue(ctx, broker.QueueSpec{Name: name}); err != nil {
		t.Fatalf("declare %s: %v", name, err)
	}
	body := []byte("still serving " + name)
	out, err := b.Publish(ctx, "", "", []broker.PublishEntry{{RoutingKey: name, Message: broker.Message{Body: body}, Mandatory: true}})
	if err != nil || out[0].Status != broker.PublishConfirmed {
		t.Fatalf("publish to %s: %v %v", name, out, err)
	}
	d, _, err := b.Get(ctx, broker.GetOptions{Queue: name, Session: "probe", AutoAck: true})
	if err != nil || d == nil || !bytes.Equal(d.Message.Body, body) {
		t.Fatalf("get from %s: %v %v", name, d, err)
	}
}

// FuzzLogEntries: arbitrary bytes appended to the log of the meta group
// and of a queue group, through the real Raft apply path, are applied as
// commands or refused as error results; no group stops, and the node
// serves on.
func FuzzLogEntries(f *testing.F) {
	for _, e := range badEntries(f) {
		f.Add(e)
	}
	lt := startLogTarget(f, "")
	f.Fuzz(func(t *testing.T, data []byte) {
		lt.appendEverywhere(t, data)
		lt.checkServing(t)
	})
}

// TestBadLogEntriesSurviveRestart: a node whose logs hold the entries that
// once stopped groups starts again, replays them, and serves; what was
// confirmed before is still there.
func TestBadLogEntriesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	lt := startLogTarget(t, dir)
	for _, e := range badEntries(t) {
		lt.appendEverywhere(t, e)
	}
	lt.checkServing(t)
	ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout(10*time.Second))
	defer cancel()
	if _, _, err := lt.n.b.DeclareQueue(ctx, broker.QueueSpec{Name: "kept"}); err != nil {
		t.Fatal(err)
	}
	if _, err := lt.n.b.Publish(ctx, "", "", []broker.PublishEntry{{RoutingKey: "kept", Message: broker.Message{Body: []byte("kept")}}}); err != nil {
		t.Fatal(err)
	}
	lt.n.stop(t)

	again := startLogTarget(t, dir)
	again.probes.Store(lt.probes.Load())
	again.checkServing(t)
	q, err := again.n.b.Queue("", "kept")
	if err != nil || q.Ready != 1 {
		t.Fatalf("queue kept after the restart: %+v, %v", q, err)
	}
	if _, err := again.n.b.Queue("", strings.Repeat("n", 204800)); !errors.Is(err, fsm.ErrNotFound) {
		t.Fatalf("the 204,800-byte queue name: %v, want not found", err)
	}
}
