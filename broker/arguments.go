package broker

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
)

// Declaration arguments are checked here, before anything is proposed, by
// every front end alike: an argument Warren does not implement is refused
// with its name, never kept and ignored, so an application moved from
// RabbitMQ does not look fine and misbehave later (x-expires, say, would
// leave its queue in place forever). The check is not in the state
// machine: entries already in a log, from before an argument was refused,
// must replay as they applied.

// SupportedQueueArgs are the queue arguments Warren implements, each with
// or without RabbitMQ's "x-" prefix (README "Queue and exchange arguments").
var SupportedQueueArgs = []string{
	"x-max-length", "x-max-length-bytes", "x-overflow", "x-message-ttl",
	"x-delivery-limit", "x-dead-letter-exchange", "x-dead-letter-routing-key",
	"x-dead-letter-strategy", "x-queue-type", "x-expires", "x-single-active-consumer", "x-max-priority",
	"x-consumer-timeout",
}

// featureQueueArgs are the supported arguments that need args_level 1
// (every node at featuresVersion): an older build would keep them without
// effect.
var featureQueueArgs = []string{"x-expires", "x-single-active-consumer", "x-max-priority", "x-consumer-timeout"}

// checkFeatureArgs refuses the arguments of featureQueueArgs while the
// cluster cannot apply them (a rolling upgrade is under way).
func checkFeatureArgs(args map[string]Value) error {
	for _, name := range slices.Sorted(maps.Keys(args)) {
		if slices.Contains(featureQueueArgs, name) || slices.Contains(featureQueueArgs, "x-"+name) {
			return fmt.Errorf("%w: queue argument %q needs every node of the cluster at FSM version %d (an upgrade is under way)", fsm.ErrPrecondition, name, featuresVersion)
		}
	}
	return nil
}

// SupportedExchangeArgs are the exchange arguments Warren implements, each
// with or without the "x-" prefix (RabbitMQ spells alternate-exchange
// without it).
var SupportedExchangeArgs = []string{"x-alternate-exchange", "x-delayed-type"}

// checkArgNames refuses the first argument (in name order, so the answer
// is the same for the same request) whose name starts with "x-" and is
// not in supported, or that is a known one without its prefix. Other
// names without the prefix are an application's own and are kept, as
// RabbitMQ keeps them.
func checkArgNames(what string, args map[string]Value, supported []string) error {
	if what == "queue" {
		if err := checkQueueType(args); err != nil {
			return err
		}
		if err := checkDeadLetterStrategy(args); err != nil {
			return err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(args)) {
		canonical := name
		if !strings.HasPrefix(name, "x-") {
			canonical = "x-" + name
			if !slices.Contains(supported, canonical) {
				continue
			}
		}
		if !slices.Contains(supported, canonical) {
			return fmt.Errorf("%w: %s argument %q is not supported by Warren%s", fsm.ErrInvalid, what, name, supportedList(supported))
		}
	}
	return nil
}

// supportedList names the supported arguments for an error message.
func supportedList(supported []string) string {
	if len(supported) == 0 {
		return " (it supports none)"
	}
	return " (supported: " + strings.Join(supported, ", ") + ")"
}

// checkQueueType refuses queue-type stream with what it is: RabbitMQ's
// streams (an append-only log read from an offset) are a different model
// that Warren does not have.
func checkQueueType(args map[string]Value) error {
	if name, v, ok := argEntry(args, "queue-type"); ok && isString(v, "stream") {
		return fmt.Errorf("%w: queue argument %q: streams are not supported by Warren (every queue is a replicated work queue: use \"quorum\")", fsm.ErrInvalid, name)
	}
	return nil
}

// checkDeadLetterStrategy checks x-dead-letter-strategy: at-most-once
// (RabbitMQ's default) or at-least-once, which, as in RabbitMQ, needs a
// dead-letter exchange and overflow reject-publish (RabbitMQ falls back to
// at-most-once without them; Warren refuses, never keeping an argument it
// does not act on).
func checkDeadLetterStrategy(args map[string]Value) error {
	name, v, ok := argEntry(args, "dead-letter-strategy")
	if !ok {
		return nil
	}
	switch {
	case isString(v, "at-most-once"):
	case isString(v, "at-least-once"):
		if !hasArg(args, "dead-letter-exchange") {
			return fmt.Errorf("%w: queue argument %q at-least-once needs a dead-letter exchange (x-dead-letter-exchange)", fsm.ErrInvalid, name)
		}
		if o, ok := argValue(args, "overflow"); !ok || !isString(o, "reject-publish") {
			return fmt.Errorf("%w: queue argument %q at-least-once needs x-overflow reject-publish, as in RabbitMQ "+
				"(dead letters waiting for their target count toward the queue's length)", fsm.ErrInvalid, name)
		}
	default:
		return fmt.Errorf("%w: queue argument %q must be \"at-most-once\" or \"at-least-once\"", fsm.ErrInvalid, name)
	}
	return nil
}

// deadLetterStrategy is the strategy a declaration's arguments ask for.
func deadLetterStrategy(args map[string]Value) fsmpb.DeadLetterStrategy {
	if v, ok := argValue(args, "dead-letter-strategy"); ok && isString(v, "at-least-once") {
		return fsmpb.DeadLetterStrategy_DEAD_LETTER_AT_LEAST_ONCE
	}
	return fsmpb.DeadLetterStrategy_DEAD_LETTER_AT_MOST_ONCE
}

// argEntry finds the argument name, with or without the "x-" prefix (the
// prefixed one first), and says under which key. Both at once are refused
// by fsm.QueueSpecFromArgs ("given twice").
func argEntry(args map[string]Value, name string) (key string, v Value, ok bool) {
	for _, key := range []string{"x-" + name, name} {
		if v, ok := args[key]; ok {
			return key, v, true
		}
	}
	return "", Value{}, false
}

// argValue is the argument name, with or without the "x-" prefix.
func argValue(args map[string]Value, name string) (Value, bool) {
	_, v, ok := argEntry(args, name)
	return v, ok
}

// isString reports whether v is the string s.
func isString(v Value, s string) bool { return v.Type == ValueString && v.Str == s }

func hasArg(args map[string]Value, name string) bool {
	_, ok := argValue(args, name)
	return ok
}

// needsVersion3 reports whether queue arguments need FSM version 3 on
// every server: overflow reject-publish-dlx (an older build refuses the
// declaration, or would drop the head where this one rejects) and
// at-least-once dead-lettering (an older build drops what this one keeps).
func needsVersion3(args map[string]Value) bool {
	if deadLetterStrategy(args) == fsmpb.DeadLetterStrategy_DEAD_LETTER_AT_LEAST_ONCE {
		return true
	}
	v, ok := argValue(args, "overflow")
	return ok && isString(v, "reject-publish-dlx")
}

// ClassicQueueNotice is what a declaration with x-queue-type "classic"
// is told: accepted, but not what a RabbitMQ classic queue is.
const ClassicQueueNotice = `x-queue-type "classic" accepted: every Warren queue is replicated with Raft, like a RabbitMQ quorum queue (no single-node classic queues)`

// QueueNotice returns the notice for a queue declared with args, or "".
func QueueNotice(args map[string]Value) string {
	if v, ok := argValue(args, "queue-type"); ok && isString(v, "classic") {
		return ClassicQueueNotice
	}
	return ""
}
