package broker

import (
	"context"
	"errors"
	"time"

	"github.com/warrenmq/warren/fsm"
)

// autoDeleteIdle deletes the auto-delete queues among ids, whose last
// consumer just went, as RabbitMQ does. It runs off the apply path; a queue
// that gained a consumer again meanwhile is kept.
func (b *Broker) autoDeleteIdle(ids []uint64) {
	var queues []*fsm.QueueDef
	b.readMeta(func(m *fsm.Meta) {
		for _, q := range m.Queues() {
			for _, id := range ids {
				if q.ID == id && q.AutoDelete {
					queues = append(queues, q)
				}
			}
		}
	})
	if len(queues) == 0 {
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		defer cancel()
		for _, q := range queues {
			_, _, err := b.deleteQueue(ctx, q.Name, DeleteQueueOptions{VHost: q.VHost, IfUnused: true})
			if err != nil && !errors.Is(err, fsm.ErrNotFound) && !errors.Is(err, fsm.ErrPrecondition) {
				b.logger.Warn("could not auto-delete queue", "queue", q.Name, "vhost", q.VHost, "error", err)
			}
		}
	}()
}
