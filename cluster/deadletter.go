package cluster

import (
	"context"
	"time"

	"github.com/warrenmq/warren/fsm"
	"github.com/warrenmq/warren/fsm/fsmpb"
	"google.golang.org/protobuf/proto"
)

// republishDeadLetters publishes discarded messages to their queues'
// dead-letter exchanges, off the apply path. It is at most once: a leader
// that dies before the republish commits loses the dead letter (never the
// original, which was already discarded by the log).
func (n *Node) republishDeadLetters(dls []fsm.DeadLetter) {
	items := make([]PublishItem, 0, len(dls))
	for _, dl := range dls {
		p := proto.Clone(dl.Payload).(*fsmpb.Payload)
		if p.Headers == nil {
			p.Headers = map[string]*fsmpb.Value{}
		}
		if _, ok := p.Headers["x-first-death-reason"]; !ok {
			p.Headers["x-first-death-reason"] = &fsmpb.Value{Kind: &fsmpb.Value_StringValue{StringValue: dl.Reason}}
			p.Headers["x-first-death-queue"] = &fsmpb.Value{Kind: &fsmpb.Value_StringValue{StringValue: dl.Queue}}
		}
		p.Exchange, p.RoutingKey = dl.Exchange, dl.RoutingKey
		items = append(items, PublishItem{
			Exchange: dl.Exchange, RoutingKey: dl.RoutingKey, Headers: fsm.RoutingArgs(p.Headers), Payload: p,
		})
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
		defer cancel()
		for _, it := range items {
			if _, err := n.Publish(ctx, []PublishItem{it}); err != nil {
				n.logger.Warn("dead letter dropped", "exchange", it.Exchange, "error", err)
			}
		}
	}()
}
