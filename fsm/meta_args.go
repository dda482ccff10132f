package fsm

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/warrenmq/warren/fsm/fsmpb"
)

// QueueSpecFromArgs builds a queue's immutable spec from its declaration
// arguments. Argument names may carry RabbitMQ's "x-" prefix or not
// ("x-max-length" and "max-length" are the same). Known arguments:
//
//	max-length, max-length-bytes     int ≥ 0
//	overflow                         "drop-head" (default), "reject-publish" or
//	                                 "reject-publish-dlx"
//	message-ttl                      int ≥ 0, milliseconds
//	delivery-limit                   int; ≤ 0 means unlimited
//	dead-letter-exchange             string (Meta.Apply: a ValidKey)
//	dead-letter-routing-key          string (Meta.Apply: a ValidKey)
//	queue-type                       "quorum" or "classic"; accepted, ignored
//
// With level ArgsLevel3 (DeclareQueue.args_level, proposed once every
// voter runs FSM version 3) also:
//
//	expires                          int ≥ 1, milliseconds
//	single-active-consumer           bool
//	max-priority                     int 1–255
//	consumer-timeout                 int ≥ 1, milliseconds
//
// and delivery-limit defaults to DefaultDeliveryLimit (RabbitMQ 4's quorum
// queues), -1 (any value ≤ 0) being unlimited. At level 0 those arguments
// are kept without effect and there is no default, as every entry from
// before meant: an entry keeps its meaning whatever build replays it.
//
// Other arguments are kept (they count when comparing re-declarations) but
// have no effect: the broker refuses unknown x- arguments before it
// proposes (broker/arguments.go), and this accepts them so that entries
// logged before that refusal replay as they applied. A known argument of the wrong type or range is an error
// wrapping ErrInvalid. It does not check sizes: Meta.Apply checks the
// arguments with ValidArgs first, and a restored snapshot is taken as is.
func QueueSpecFromArgs(id uint64, name string, args map[string]*fsmpb.Value, level uint32) (*fsmpb.QueueSpec, error) {
	spec := &fsmpb.QueueSpec{Id: id, Name: name}
	if level >= ArgsLevel3 {
		spec.DeliveryLimit = DefaultDeliveryLimit
	}
	seen := map[string]string{}
	// In key order, so that the error for several bad arguments is the same
	// on every replica.
	for _, raw := range slices.Sorted(maps.Keys(args)) {
		v := args[raw]
		key := strings.TrimPrefix(raw, "x-")
		if prev, dup := seen[key]; dup && isKnownQueueArg(key) {
			return nil, fmt.Errorf("%w: queue argument %q given twice (as %q and %q)", ErrInvalid, key, prev, raw)
		}
		seen[key] = raw
		var err error
		switch key {
		case "max-length":
			spec.MaxLength, err = nonNegativeArg(raw, v)
		case "max-length-bytes":
			spec.MaxLengthBytes, err = nonNegativeArg(raw, v)
		case "message-ttl":
			spec.MessageTtlMs, err = nonNegativeArg(raw, v)
		case "delivery-limit":
			var n int64
			n, err = intArg(raw, v)
			if err == nil {
				spec.DeliveryLimit = uint32(min(max(n, 0), 1<<31))
			}
		case "overflow":
			var s string
			s, err = stringArg(raw, v)
			switch {
			case err != nil:
			case s == "drop-head":
				spec.Overflow = fsmpb.Overflow_OVERFLOW_DROP_HEAD
			case s == "reject-publish":
				spec.Overflow = fsmpb.Overflow_OVERFLOW_REJECT_PUBLISH
			case s == "reject-publish-dlx":
				spec.Overflow = fsmpb.Overflow_OVERFLOW_REJECT_PUBLISH_DLX
			default:
				err = fmt.Errorf("%w: queue argument %q must be \"drop-head\", \"reject-publish\" or \"reject-publish-dlx\", not %q", ErrInvalid, raw, s)
			}
		case "dead-letter-exchange":
			spec.DeadLetterExchange, err = stringArg(raw, v)
			spec.DeadLetterExchangeSet = err == nil
		case "dead-letter-routing-key":
			spec.DeadLetterRoutingKey, err = stringArg(raw, v)
		case "queue-type":
			var s string
			s, err = stringArg(raw, v)
			if err == nil && s != "quorum" && s != "classic" {
				err = fmt.Errorf("%w: queue argument %q must be \"quorum\" or \"classic\", not %q", ErrInvalid, raw, s)
			}
		}
		if err == nil && level >= ArgsLevel3 {
			err = level3Arg(spec, key, raw, v)
		}
		if err != nil {
			return nil, err
		}
	}
	return spec, nil
}

// Argument levels of DeclareQueue.args_level.
const (
	// ArgsLevel3 adds expires, single-active-consumer, max-priority,
	// consumer-timeout and the default delivery limit (FSM version 3).
	ArgsLevel3 = 1
)

// DefaultDeliveryLimit is the delivery limit of a queue declared at
// ArgsLevel3 without x-delivery-limit, as RabbitMQ 4's quorum queues.
const DefaultDeliveryLimit = 20

// MaxPriority is the highest x-max-priority.
const MaxPriority = 255

// level3Arg reads the arguments ArgsLevel3 adds.
func level3Arg(spec *fsmpb.QueueSpec, key, raw string, v *fsmpb.Value) error {
	switch key {
	case "expires", "consumer-timeout":
		n, err := intArg(raw, v)
		if err != nil {
			return err
		}
		if n < 1 {
			return fmt.Errorf("%w: queue argument %q must be ≥ 1 (milliseconds), not %d", ErrInvalid, raw, n)
		}
		if key == "expires" {
			spec.ExpiresMs = &n
		} else {
			spec.ConsumerTimeoutMs = &n
		}
	case "single-active-consumer":
		b, ok := v.GetKind().(*fsmpb.Value_BoolValue)
		if !ok {
			return fmt.Errorf("%w: queue argument %q must be a boolean", ErrInvalid, raw)
		}
		spec.SingleActiveConsumer = b.BoolValue
	case "max-priority":
		n, err := intArg(raw, v)
		if err != nil {
			return err
		}
		if n < 1 || n > MaxPriority {
			return fmt.Errorf("%w: queue argument %q must be 1–%d, not %d", ErrInvalid, raw, MaxPriority, n)
		}
		spec.MaxPriority = uint32(n)
	}
	return nil
}

func isKnownQueueArg(key string) bool {
	switch key {
	case "max-length", "max-length-bytes", "message-ttl", "delivery-limit", "overflow",
		"dead-letter-exchange", "dead-letter-routing-key", "queue-type",
		"expires", "single-active-consumer", "max-priority", "consumer-timeout":
		return true
	}
	return false
}

func intArg(name string, v *fsmpb.Value) (int64, error) {
	iv, ok := v.GetKind().(*fsmpb.Value_IntValue)
	if !ok {
		return 0, fmt.Errorf("%w: queue argument %q must be an integer", ErrInvalid, name)
	}
	return iv.IntValue, nil
}

func nonNegativeArg(name string, v *fsmpb.Value) (*int64, error) {
	n, err := intArg(name, v)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("%w: queue argument %q must be ≥ 0, not %d", ErrInvalid, name, n)
	}
	return &n, nil
}

func stringArg(name string, v *fsmpb.Value) (string, error) {
	sv, ok := v.GetKind().(*fsmpb.Value_StringValue)
	if !ok {
		return "", fmt.Errorf("%w: queue argument %q must be a string", ErrInvalid, name)
	}
	return sv.StringValue, nil
}
