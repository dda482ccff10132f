package transport

import (
	"context"
	"encoding/base64"

	"github.com/warrenmq/warren/broker"
	pb "github.com/warrenmq/warren/transport/warrenpb"
	"google.golang.org/protobuf/proto"
)

// Listings are paged, so no listing can outgrow a gRPC message, whatever
// the state holds: at most page_size items and at most maxPageBytes of
// them (under the 4 MiB a gRPC client accepts by default), the rest behind
// next_page_token. The token is the key of the last item sent, opaque to
// clients.
const (
	defaultPageSize = 1000
	maxPageSize     = 10000
	maxPageBytes    = 3 << 20
)

// checkPage validates a listing's page size and token: at most
// maxPageSize items, and a token this server could have given.
func checkPage(size uint32, token string) error {
	if size > maxPageSize {
		return invalidf("page_size %d; the limit is %d", size, maxPageSize)
	}
	if _, err := base64.RawURLEncoding.DecodeString(token); err != nil {
		return invalidf("page_token is not one this server gave")
	}
	return nil
}

// pageRequest reads a validated request's page size and token.
func pageRequest(size uint32, token string) (limit int, cursor string) {
	limit = int(size)
	if limit == 0 {
		limit = defaultPageSize
	}
	raw, _ := base64.RawURLEncoding.DecodeString(token) // checkPage refused anything else
	return limit, string(raw)
}

// listRequest is what every listing request has.
type listRequest interface {
	GetPageSize() uint32
	GetPageToken() string
	GetMinMetaIndex() uint64
}

// startList checks a listing request (invalid: the request's own
// validation error) and its page, waits for the meta index the client has
// seen, and returns the page's size and cursor.
func (s *Server) startList(ctx context.Context, invalid error, r listRequest) (page, error) {
	if invalid != nil {
		return page{}, invalid
	}
	limit, cursor := pageRequest(r.GetPageSize(), r.GetPageToken())
	vhost, err := s.begin(ctx, r.GetMinMetaIndex())
	return page{limit: limit, cursor: cursor, vhost: vhost}, err
}

// page is what a listing call asks for: up to limit items after cursor, in
// the call's virtual host.
type page struct {
	limit         int
	cursor, vhost string
}

// fillPage converts items into the response until maxPageBytes (at least
// one item), and returns them with the next page's token ("" when none
// follows).
func fillPage[T any, P proto.Message](items []T, more bool, convert func(T) P, key func(T) string) ([]P, string) {
	out := make([]P, 0, len(items))
	size := 0
	for i, it := range items {
		p := convert(it)
		size += proto.Size(p)
		if i > 0 && size > maxPageBytes {
			return out, base64.RawURLEncoding.EncodeToString([]byte(key(items[i-1])))
		}
		out = append(out, p)
	}
	if more && len(items) > 0 {
		return out, base64.RawURLEncoding.EncodeToString([]byte(key(items[len(items)-1])))
	}
	return out, ""
}

// ListExchanges implements BrokerService.
func (s *Server) ListExchanges(ctx context.Context, r *pb.ListExchangesRequest) (*pb.ListExchangesResponse, error) {
	p, err := s.startList(ctx, s.limits.validateListExchanges(r), r)
	if err != nil {
		return nil, err
	}
	items, more := s.broker.ExchangesAfter(p.vhost, p.cursor, p.limit)
	resp := &pb.ListExchangesResponse{}
	resp.Exchanges, resp.NextPageToken = fillPage(items, more, func(e broker.Exchange) *pb.Exchange {
		return &pb.Exchange{
			Name: e.Name, Kind: e.Kind, AutoDelete: e.AutoDelete, Internal: e.Internal,
			Arguments: apiValues(e.Args), Builtin: e.Builtin,
		}
	}, func(e broker.Exchange) string { return e.Name })
	return resp, nil
}

// ListQueues implements BrokerService.
func (s *Server) ListQueues(ctx context.Context, r *pb.ListQueuesRequest) (*pb.ListQueuesResponse, error) {
	p, err := s.startList(ctx, s.limits.validateListQueues(r), r)
	if err != nil {
		return nil, err
	}
	items, more, err := s.broker.QueuesAfter(ctx, p.vhost, p.cursor, p.limit)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.ListQueuesResponse{}
	resp.Queues, resp.NextPageToken = fillPage(items, more, func(q broker.Queue) *pb.QueueInfo {
		return &pb.QueueInfo{
			Name: q.Name, Exclusive: q.Exclusive, AutoDelete: q.AutoDelete, Arguments: apiValues(q.Args),
			Ready: q.Ready, Unacked: q.Unacked, Consumers: q.Consumers, Group: q.Group, ReadyBytes: q.ReadyBytes,
			ActiveConsumer: q.ActiveConsumer,
			Rates:          apiRates(q.Rates),
		}
	}, func(q broker.Queue) string { return q.Name })
	return resp, nil
}

// ListBindings implements BrokerService.
func (s *Server) ListBindings(ctx context.Context, r *pb.ListBindingsRequest) (*pb.ListBindingsResponse, error) {
	p, err := s.startList(ctx, s.limits.validateListBindings(r), r)
	if err != nil {
		return nil, err
	}
	kind := broker.AnyDestination
	switch r.GetDestinationKind() {
	case pb.DestinationKind_DESTINATION_KIND_QUEUE:
		kind = broker.QueueDestination
	case pb.DestinationKind_DESTINATION_KIND_EXCHANGE:
		kind = broker.ExchangeDestination
	}
	items, more := s.broker.BindingsAfter(p.vhost, r.GetExchange(), r.GetQueue(), kind, p.cursor, p.limit)
	resp := &pb.ListBindingsResponse{}
	resp.Bindings, resp.NextPageToken = fillPage(items, more, func(b broker.Binding) *pb.Binding {
		k := pb.DestinationKind_DESTINATION_KIND_QUEUE
		if b.ToExchange {
			k = pb.DestinationKind_DESTINATION_KIND_EXCHANGE
		}
		return &pb.Binding{Exchange: b.Exchange, Queue: b.Queue, BindingKey: b.Key, Arguments: apiValues(b.Args), DestinationKind: k}
	}, broker.BindingCursor)
	return resp, nil
}

// apiRates is a queue's rates in the API.
func apiRates(r broker.Rates) *pb.QueueRates {
	return &pb.QueueRates{
		Known: r.Known, Publish_5S: r.Publish5, Publish_60S: r.Publish60,
		Deliver_5S: r.Deliver5, Deliver_60S: r.Deliver60, Ack_5S: r.Ack5, Ack_60S: r.Ack60,
	}
}
