package broker

import (
	"context"
	"time"

	"github.com/warrenmq/warren/fsm"
)

// republishDeadLetters publishes discarded messages to their queues'
// dead-letter exchanges, off the apply path. It is at most once: a leader
// that dies before the republish commits loses the dead letter (never the
// original, which was already discarded by the log).
func (b *Broker) republishDeadLetters(dls []fsm.DeadLetter) {
	entries := make([]PublishEntry, 0, len(dls))
	vhosts := make([]string, 0, len(dls))
	for _, dl := range dls {
		vhosts = append(vhosts, dl.VHost)
		m := message(dl.Payload)
		if m.Headers == nil {
			m.Headers = map[string]Value{}
		}
		if _, ok := m.Headers["x-first-death-reason"]; !ok {
			m.Headers["x-first-death-reason"] = Value{Type: ValueString, Str: dl.Reason}
			m.Headers["x-first-death-queue"] = Value{Type: ValueString, Str: dl.Queue}
		}
		entries = append(entries, PublishEntry{Exchange: dl.Exchange, RoutingKey: dl.RoutingKey, Message: m})
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		defer cancel()
		for i, e := range entries {
			if _, err := b.Publish(ctx, vhosts[i], "", []PublishEntry{e}); err != nil {
				b.logger.Warn("dead letter dropped", "queue", dls[i].Queue, "vhost", vhostName(vhosts[i]), "exchange", e.Exchange, "error", err)
			}
		}
	}()
}
