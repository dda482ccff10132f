package client

import (
	"sync/atomic"
	"time"
)

// watchSilence runs silent once a stream has heard nothing (heard: Unix ns
// of the last message) for ConsumeSilenceIntervals heartbeat intervals hb
// while not paused (paused, if set: the reader is handing a message to
// the application and reads nothing meanwhile, which is not the node's
// silence). It looks every half interval, and returns after silent, or
// when done or stop (nil: never) closes. Consume and session streams
// watch their node this way.
func watchSilence(hb time.Duration, heard *atomic.Int64, paused *atomic.Bool, done, stop <-chan struct{}, silent func()) {
	limit := ConsumeSilenceIntervals * hb
	t := time.NewTicker(hb / 2)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-stop:
			return
		case <-t.C:
			if (paused != nil && paused.Load()) || time.Since(time.Unix(0, heard.Load())) < limit {
				continue
			}
			silent()
			return
		}
	}
}
