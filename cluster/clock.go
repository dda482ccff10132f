package cluster

import "time"

// nowMs is the leader's clock as stamped into commands (Unix ms); the
// state machines never read a clock themselves.
func nowMs() int64 { return time.Now().UnixMilli() }
