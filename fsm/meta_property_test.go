package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

var (
	propExchangeNames = []string{"ex1", "ex2", "amq.topic", "", "amq.x"}
	propQueueNames    = []string{"q1", "q2", "q3", "amq.gen-1"}
	propOwners        = []string{"s1", "s2", "s3"}
	propKeys          = []string{"", "a", "a.*", "#"}
)

// metaDraw draws the parts of meta commands, valid ones mostly, and
// remembers whether it drew a field past a limit of limits.go.
type metaDraw struct {
	t   *rapid.T
	bad bool
}

func (d *metaDraw) name(pool []string, label string) string {
	switch rapid.IntRange(0, 19).Draw(d.t, label+"Bad") {
	case 0:
		d.bad = true
		return strings.Repeat("n", MaxNameBytes+1)
	case 1:
		d.bad = true
		return "bad\xff" + label
	}
	return rapid.SampledFrom(pool).Draw(d.t, label)
}

// session draws an owner or ended session id; "" counts as bad only where
// required.
func (d *metaDraw) session(required bool) string {
	switch rapid.IntRange(0, 14).Draw(d.t, "sessionBad") {
	case 0:
		d.bad = true
		return strings.Repeat("s", MaxSessionIDBytes+1)
	case 1:
		d.bad = d.bad || required
		return ""
	}
	return rapid.SampledFrom(propOwners).Draw(d.t, "session")
}

// args draws arguments; forQueue says whether a dead-letter exchange past
// MaxNameBytes is bad (it is only for a queue declaration).
func (d *metaDraw) args(forQueue bool) map[string]*fsmpb.Value {
	switch rapid.IntRange(0, 11).Draw(d.t, "args") {
	case 0:
		return map[string]*fsmpb.Value{"x-max-length": num(5)}
	case 1:
		return map[string]*fsmpb.Value{"x-dead-letter-exchange": str("dlx")}
	case 2:
		d.bad = d.bad || forQueue
		return map[string]*fsmpb.Value{"x-dead-letter-exchange": str(strings.Repeat("d", MaxNameBytes+1))}
	case 3:
		d.bad = true
		many := map[string]*fsmpb.Value{}
		for i := range MaxArgs + 1 {
			many[fmt.Sprintf("k%d", i)] = num(int64(i))
		}
		return many
	case 4:
		d.bad = true
		return map[string]*fsmpb.Value{"big": str(strings.Repeat("v", MaxArgValueBytes+1))}
	case 5:
		d.bad = true // each value within its limit, the sum past MaxArgsBytes
		return map[string]*fsmpb.Value{"a": str(strings.Repeat("a", 40<<10)), "b": {Kind: &fsmpb.Value_BytesValue{BytesValue: bytes.Repeat([]byte("b"), 40<<10)}}}
	case 6:
		return map[string]*fsmpb.Value{"x-match": str("any"), "a": num(1), "b": {}}
	case 7:
		return map[string]*fsmpb.Value{"x-match": str("bogus")}
	case 8:
		d.bad = true
		return map[string]*fsmpb.Value{"": num(1)}
	case 9:
		d.bad = true
		return map[string]*fsmpb.Value{"k\xff": num(1)}
	case 10:
		if !forQueue {
			return map[string]*fsmpb.Value{"alternate-exchange": str(rapid.SampledFrom(propExchangeNames).Draw(d.t, "alternate"))}
		}
	}
	return nil
}

// destination draws a binding's destination: a queue mostly, an exchange
// now and then.
func (d *metaDraw) destination() (string, fsmpb.DestinationKind) {
	if rapid.IntRange(0, 2).Draw(d.t, "toExchange") == 0 {
		return d.name(propExchangeNames, "destExchange"), fsmpb.DestinationKind_DESTINATION_KIND_EXCHANGE
	}
	return d.name(propQueueNames, "queue"), fsmpb.DestinationKind_DESTINATION_KIND_QUEUE
}

// drawMetaCommand draws a meta command over small name pools, so that
// commands meet each other's objects, with fields past the limits now and
// then; bad reports whether it drew one.
func drawMetaCommand(t *rapid.T) (cmd proto.Message, bad bool) {
	d := &metaDraw{t: t}
	switch rapid.IntRange(0, 10).Draw(t, "kind") {
	case 0:
		kind := rapid.SampledFrom([]string{"direct", "topic", "fanout", "headers", "bogus", "", strings.Repeat("k", 300), DelayedKind}).Draw(t, "exchangeKind")
		name := d.name(propExchangeNames, "exchange")
		args := d.args(false)
		if kind == DelayedKind && rapid.Bool().Draw(t, "delayedType") {
			if args == nil {
				args = map[string]*fsmpb.Value{}
			}
			args["x-delayed-type"] = str(rapid.SampledFrom([]string{"direct", "fanout", "bogus"}).Draw(t, "delayedTypeName"))
		}
		if _, _, err := ParseExchangeKind(kind, args); err != nil {
			d.bad = true
		}
		cmd = &fsmpb.DeclareExchange{Name: name, Kind: kind, AutoDelete: rapid.Bool().Draw(t, "autoDelete"), Arguments: args}
	case 1:
		cmd = &fsmpb.DeleteExchange{Name: d.name(propExchangeNames, "exchange"), IfUnused: rapid.Bool().Draw(t, "ifUnused")}
	case 2, 3:
		exclusive := rapid.Bool().Draw(t, "exclusive")
		cmd = &fsmpb.DeclareQueue{Name: d.name(propQueueNames, "queue"), Exclusive: exclusive,
			OwnerSession: d.session(exclusive), AutoDelete: rapid.Bool().Draw(t, "autoDelete"), Arguments: d.args(true)}
	case 4:
		cmd = &fsmpb.DeleteQueue{Name: d.name(propQueueNames, "queue")}
	case 5, 6:
		src := d.name(propExchangeNames, "exchange")
		dest, kind := d.destination()
		cmd = &fsmpb.Bind{Exchange: src, Queue: dest, DestinationKind: kind, Key: d.name(propKeys, "key"), Arguments: d.args(false)}
	case 7:
		src := d.name(propExchangeNames, "exchange")
		dest, kind := d.destination()
		cmd = &fsmpb.Unbind{Exchange: src, Queue: dest, DestinationKind: kind, Key: d.name(propKeys, "key"), Arguments: d.args(false)}
	case 8, 9:
		var sessions []string
		for range rapid.IntRange(0, 3).Draw(t, "sessions") {
			sessions = append(sessions, d.session(true))
		}
		cmd = &fsmpb.MetaSessionDown{Sessions: sessions}
	default:
		// Not a meta command, or a typed nil: refused without a change.
		cmd = rapid.SampledFrom([]proto.Message{&fsmpb.Enqueue{}, (*fsmpb.Bind)(nil), (*fsmpb.MetaSessionDown)(nil)}).Draw(t, "foreign")
	}
	return cmd, d.bad
}

// TestMetaProperties applies random meta command sequences to a Meta, a
// replica, and a Meta restored from the snapshot before each command, and
// checks after every command: the invariants, the indexes equal to their
// recomputation (checkMetaInvariants), on the live and on the restored
// machine; equal results and snapshots on all three; a command with a field
// past a limit refused with ErrInvalid; a refused command leaves the
// snapshot as it was; an ended session owns nothing any more.
func TestMetaProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m, replica := NewMeta(fuzzMetaGroups), NewMeta(fuzzMetaGroups)
		for i := range rapid.IntRange(1, 60).Draw(t, "commands") {
			idx := uint64(i + 1)
			restored, err := RestoreMeta(bytes.NewReader(propMetaSnapshot(t, m, 0)), fuzzMetaGroups)
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			if err := checkMetaInvariants(restored, true); err != nil {
				t.Fatalf("restored, before command %d: %v", i, err)
			}
			before := propMetaSnapshot(t, m, idx)

			cmd, bad := drawMetaCommand(t)
			res := m.Apply(idx, cmd)
			for name, other := range map[string]*Meta{"replica": replica, "restored": restored} {
				if a, b := normMeta(res), normMeta(other.Apply(idx, cmd)); !reflect.DeepEqual(a, b) {
					t.Fatalf("command %d (%T): %s result differs\n main %+v\n %s %+v", i, cmd, name, a, name, b)
				}
			}
			if err := checkMetaInvariants(m, true); err != nil {
				t.Fatalf("after command %d (%T, %v): %v", i, cmd, res.Err, err)
			}
			if err := checkMetaInvariants(restored, true); err != nil {
				t.Fatalf("restored, after command %d (%T): %v", i, cmd, err)
			}
			if bad && !errors.Is(res.Err, ErrInvalid) {
				t.Fatalf("command %d (%T) has a field past a limit but gave %v, want ErrInvalid", i, cmd, res.Err)
			}
			after := propMetaSnapshot(t, m, 0)
			if res.Err != nil && !bytes.Equal(before, after) {
				t.Fatalf("command %d (%T) was refused (%v) but changed the state", i, cmd, res.Err)
			}
			if !bytes.Equal(after, propMetaSnapshot(t, replica, 0)) || !bytes.Equal(after, propMetaSnapshot(t, restored, 0)) {
				t.Fatalf("command %d (%T): snapshots differ", i, cmd)
			}
			if err := checkRouteReference(m); err != nil {
				t.Fatalf("after command %d (%T): %v", i, cmd, err)
			}
			if sd, ok := cmd.(*fsmpb.MetaSessionDown); ok && res.Err == nil {
				for _, s := range sd.GetSessions() {
					if m.HasExclusiveQueues(s) {
						t.Fatalf("session %q still owns exclusive queues after going down", s)
					}
				}
				for _, dq := range res.DroppedQueues {
					if _, ok := m.Queue("", dq.Name); ok {
						t.Fatalf("dropped queue %q is still there", dq.Name)
					}
				}
			}
		}
	})
}

// propMetaSnapshot is m's snapshot, with LastIndex raised to index (as
// Apply at index raises it first).
func propMetaSnapshot(t *rapid.T, m *Meta, index uint64) []byte {
	saved := m.lastIndex
	m.lastIndex = max(saved, index)
	defer func() { m.lastIndex = saved }()
	var buf bytes.Buffer
	if err := m.WriteSnapshot(&buf); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return buf.Bytes()
}

// checkRouteReference compares Route, from every exchange with every
// key of the pool, with a naive restatement of RabbitMQ's rules: the set of
// exchanges reached is the least fixpoint of "an exchange reached routes to
// what its table matches, or, when that is nothing, to its alternate
// exchange"; the queues are those the reached exchanges' tables name. An
// internal exchange refuses the publish with ErrAccessRefused.
func checkRouteReference(m *Meta) error {
	for _, exName := range propExchangeNames {
		if exName == DefaultExchange {
			continue
		}
		start, ok := m.exchanges[objectKey(DefaultVHost, exName)]
		for _, key := range propKeys {
			got, err := m.Route(DefaultVHost, exName, key, nil)
			switch {
			case !ok:
				if !errors.Is(err, ErrNotFound) {
					return fmt.Errorf("route from missing %q: %v", exName, err)
				}
				continue
			case start.def.Internal:
				if !errors.Is(err, ErrAccessRefused) {
					return fmt.Errorf("route from internal %q: %v", exName, err)
				}
				continue
			case err != nil:
				return fmt.Errorf("route from %q: %v", exName, err)
			}
			reached := map[string]bool{exName: true}
			queues := map[string]bool{}
			for changed := true; changed; {
				changed = false
				for x := range reached {
					var dests []string
					if x == DefaultExchange {
						dests = []string{tableDest(key, false)}
					} else {
						ex := m.exchanges[objectKey(DefaultVHost, x)]
						dests = ex.table.Route(key, nil, nil)
						if ae, has := ex.alternate(); has && len(dests) == 0 {
							dests = []string{tableDest(ae, true)}
						}
					}
					for _, d := range dests {
						n := d[1:]
						if d[0] == 'q' {
							if _, ok := m.queues[objectKey(DefaultVHost, n)]; ok {
								queues[n] = true
							}
							continue
						}
						if _, ok := m.exchanges[objectKey(DefaultVHost, n)]; (ok || n == DefaultExchange) && !reached[n] {
							reached[n] = true
							changed = true
						}
					}
				}
			}
			var names []string
			for _, q := range got {
				names = append(names, q.Name)
			}
			want := slices.Sorted(maps.Keys(queues))
			if !slices.Equal(names, want) && (len(names) > 0 || len(want) > 0) {
				return fmt.Errorf("route from %q with key %q: %q, reference %q", exName, key, names, want)
			}
		}
	}
	return nil
}
