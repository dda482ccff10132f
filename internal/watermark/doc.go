// Package watermark keeps a node within its memory and disk: a Monitor
// samples the Go heap (every 100 ms) and the free space of the data
// directory's file system (every second), and while either is past its
// watermark, Check returns an error that the API turns into
// RESOURCE_EXHAUSTED for publishes. Consumes, acks, gets, deletes and
// purges go on, which is how the queues drain and the alarm clears.
//
// The alarms have hysteresis: memory trips at the high watermark and
// clears below 90 % of it; disk trips below the free low watermark and
// clears above 110 % of it. Check is one atomic load.
package watermark
