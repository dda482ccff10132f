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
// Other arguments are kept (they count when comparing re-declarations) but
// have no effect: the broker refuses unknown x- arguments before it
// proposes (broker/arguments.go), and this accepts them so that entries
// logged before that refusal replay as they applied. A known argument of the wrong type or range is an error
// wrapping ErrInvalid. It does not check sizes: Meta.Apply checks the
// arguments with ValidArgs first, and a restored snapshot is taken as is.
func QueueSpecFromArgs(id uint64, name string, args map[string]*fsmpb.Value) (*fsmpb.QueueSpec, error) {
	spec := &fsmpb.QueueSpec{Id: id, Name: name}
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
			if err == nil && n > 0 {
				if n > 1<<31 {
					n = 1 << 31
				}
				spec.DeliveryLimit = uint32(n)
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
		if err != nil {
			return nil, err
		}
	}
	return spec, nil
}

func isKnownQueueArg(key string) bool {
	switch key {
	case "max-length", "max-length-bytes", "message-ttl", "delivery-limit", "overflow",
		"dead-letter-exchange", "dead-letter-routing-key", "queue-type":
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
