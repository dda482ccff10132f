package check

import "fmt"

// Outcome is the result of a publish or an ack as the client saw it.
type Outcome uint8

const (
	// Unknown means the call timed out or its connection was lost: it may or
	// may not have taken effect.
	Unknown Outcome = iota
	// OK means the publish was confirmed (replicated and fsynced) or the ack
	// was accepted.
	OK
	// Failed means the call definitely did not take effect (for example
	// REJECTED or INVALID_ARGUMENT).
	Failed
)

// String returns "unknown", "ok" or "failed"; other values print as
// "outcome(N)".
func (o Outcome) String() string {
	switch o {
	case Unknown:
		return "unknown"
	case OK:
		return "ok"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// MarshalText encodes the outcome as its String, so saved histories stay
// readable and do not depend on the numbering.
func (o Outcome) MarshalText() ([]byte, error) {
	if o > Failed {
		return nil, fmt.Errorf("check: invalid outcome %d", uint8(o))
	}
	return []byte(o.String()), nil
}

// UnmarshalText decodes what MarshalText produced.
func (o *Outcome) UnmarshalText(b []byte) error {
	switch string(b) {
	case "unknown":
		*o = Unknown
	case "ok":
		*o = OK
	case "failed":
		*o = Failed
	default:
		return fmt.Errorf("check: invalid outcome %q", b)
	}
	return nil
}

// rank orders outcomes for "the best attempt wins": OK > Unknown > Failed.
// An out-of-range value ranks as Unknown, the conservative reading.
func (o Outcome) rank() int {
	switch o {
	case OK:
		return 2
	case Failed:
		return 0
	}
	return 1
}

// better reports whether o beats prev under rank.
func (o Outcome) better(prev Outcome) bool { return o.rank() > prev.rank() }

// normal maps an out-of-range value to Unknown.
func (o Outcome) normal() Outcome {
	if o > Failed {
		return Unknown
	}
	return o
}
