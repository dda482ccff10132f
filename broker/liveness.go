package broker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/warrenmq/warren/cluster"
	pb "github.com/warrenmq/warren/transport/warrenpb"
)

// sessionCheckEvery is how often a leader looks for sessions that hold
// deliveries or exclusive queues but are no longer connected to any node
// (their node died, or their client vanished while its node lives on).
const sessionCheckEvery = 5 * time.Second

// livenessCallTimeout bounds one LiveSessions call to a peer.
const livenessCallTimeout = 2 * time.Second

// LiveSessionsChunk is the most session ids one LiveSessions call asks
// about.
const LiveSessionsChunk = 10000

// LiveSessions returns which of ids have a Session stream open on this
// node, or a consume stream attached to a dispatcher of this node.
func (b *Broker) LiveSessions(ids []string) []string {
	var live []string
	for _, id := range ids {
		if b.sessions.live(id) || b.attachedHere(id) {
			live = append(live, id)
		}
	}
	return live
}

func (b *Broker) attachedHere(session string) bool {
	for _, q := range b.queues {
		if d := q.disp.Load(); d != nil && d.Attached(session) {
			return true
		}
	}
	return false
}

// goneSessions returns the sessions of ids that no node of the cluster
// has open: neither this node nor any peer that gossip shows alive (or
// leaving). Sessions that lived on a dead node are gone. When an alive
// peer does not answer, nothing is reported gone: the caller asks again
// later rather than return deliveries a connected client still holds.
func (b *Broker) goneSessions(ctx context.Context, ids []string) ([]string, error) {
	candidates := map[string]bool{}
	for _, id := range ids {
		candidates[id] = true
	}
	for _, id := range b.LiveSessions(ids) {
		delete(candidates, id)
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	peers := b.node.RunningPeers()
	ask := make([]string, 0, len(candidates))
	for _, id := range ids {
		if candidates[id] {
			ask = append(ask, id)
		}
	}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
	)
	for _, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			live, err := b.askLiveSessions(ctx, p, ask)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("ask %s which sessions it serves: %w", p.ID, err)
				}
				return
			}
			for _, id := range live {
				delete(candidates, id)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	var gone []string
	for _, id := range ask {
		if candidates[id] {
			gone = append(gone, id)
		}
	}
	return gone, nil
}

func (b *Broker) askLiveSessions(ctx context.Context, p cluster.Member, ids []string) ([]string, error) {
	conn, err := b.node.PeerConn(p)
	if err != nil {
		return nil, err
	}
	c := pb.NewNodeServiceClient(conn)
	var live []string
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), LiveSessionsChunk)]
		ids = ids[len(chunk):]
		cctx, cancel := context.WithTimeout(ctx, livenessCallTimeout)
		r, err := c.LiveSessions(cctx, &pb.LiveSessionsRequest{SessionIds: chunk})
		cancel()
		if err != nil {
			return nil, err
		}
		live = append(live, r.GetLive()...)
	}
	return live, nil
}
