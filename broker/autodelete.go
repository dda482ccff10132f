package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/warrenmq/warren/fsm"
)

// autoDeleteIdle deletes the auto-delete queues among idle, whose last
// consumer just went, as RabbitMQ does. It runs off the apply path; a queue
// that gained a consumer again meanwhile is kept. It looks up each idle
// queue by vhost and name, so a wave of cancels costs the queues they leave idle,
// not the number of queues (once it listed every queue per call, which
// with 200,000 queues held the meta read lock for tens of milliseconds per
// cancelled consumer). A queue re-declared under the same name since (a
// new id) is not the idle one and stays.
func (b *Broker) autoDeleteIdle(idle []fsm.IdleQueue) {
	var queues []fsm.IdleQueue
	b.readMeta(func(m *fsm.Meta) {
		for _, q := range idle {
			if def, ok := m.Queue(q.VHost, q.Name); ok && def.ID == q.ID && def.AutoDelete {
				queues = append(queues, q)
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
		// A few at a time: a SessionDown of many sessions can leave
		// hundreds of queues idle, and Raft writes concurrent deletions
		// together.
		sem := make(chan struct{}, autoDeletesInFlight)
		var wg sync.WaitGroup
		for _, q := range queues {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				_, _, err := b.deleteQueue(ctx, q.Name, DeleteQueueOptions{VHost: q.VHost, IfUnused: true, Reason: "queue auto-deleted (its last consumer went)"})
				if err != nil && !errors.Is(err, fsm.ErrNotFound) && !errors.Is(err, fsm.ErrPrecondition) {
					b.logger.Warn("could not auto-delete queue", "queue", q.Name, "vhost", q.VHost, "error", err)
				}
			}()
		}
		wg.Wait()
	}()
}

// autoDeletesInFlight bounds the deletions of one autoDeleteIdle.
const autoDeletesInFlight = 16
