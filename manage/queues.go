package manage

import (
	"cmp"
	"net/http"
	"slices"
	"strings"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
)

// queueJSON is a queue as the API shows it (RabbitMQ's field names where
// they mean the same).
type queueJSON struct {
	Name                   string         `json:"name"`
	VHost                  string         `json:"vhost"`
	Durable                bool           `json:"durable"`
	AutoDelete             bool           `json:"auto_delete"`
	Exclusive              bool           `json:"exclusive"`
	Arguments              map[string]any `json:"arguments"`
	Messages               uint64         `json:"messages"`
	MessagesReady          uint64         `json:"messages_ready"`
	MessagesUnacknowledged uint64         `json:"messages_unacknowledged"`
	MessageBytesReady      uint64         `json:"message_bytes_ready"`
	Consumers              uint32         `json:"consumers"`
	ActiveConsumer         string         `json:"single_active_consumer_tag,omitempty"`
	Group                  uint32         `json:"group"`
	MessageStats           messageStats   `json:"message_stats"`
	// ConsumerDetails are the queue's consumers (one queue's answer only,
	// at most maxConsumersShown; Truncated says more exist).
	ConsumerDetails []consumerJSON `json:"consumer_details,omitempty"`
	Truncated       bool           `json:"consumer_details_truncated,omitempty"`
}

// consumerJSON is one consumer of a queue.
type consumerJSON struct {
	ConsumerTag   string `json:"consumer_tag"`
	Session       string `json:"session"`
	PrefetchCount uint32 `json:"prefetch_count"`
	AckRequired   bool   `json:"ack_required"`
	Unacked       int    `json:"messages_unacknowledged"`
	Active        bool   `json:"active"`
}

// maxConsumersShown bounds the consumers one queue's answer lists.
const maxConsumersShown = 500

// messageStats are a queue's rates, per second over the last 5 s (and
// 60 s), counted by its group's leader; Known false when it did not
// answer.
type messageStats struct {
	Known      bool        `json:"rates_known"`
	Publish    rateDetails `json:"publish_details"`
	DeliverGet rateDetails `json:"deliver_get_details"`
	Ack        rateDetails `json:"ack_details"`
}

type rateDetails struct {
	Rate   float64 `json:"rate"`
	Rate60 float64 `json:"rate_60s"`
}

func queueOut(q broker.Queue) queueJSON {
	return queueJSON{
		Name: q.Name, VHost: q.VHost, Durable: true, AutoDelete: q.AutoDelete, Exclusive: q.Exclusive,
		Arguments: fromValues(q.Args), Messages: q.Ready + q.Unacked, MessagesReady: q.Ready,
		MessagesUnacknowledged: q.Unacked, MessageBytesReady: q.ReadyBytes, Consumers: q.Consumers,
		ActiveConsumer: q.ActiveConsumer, Group: q.Group,
		MessageStats: messageStats{
			Known:      q.Rates.Known,
			Publish:    rateDetails{q.Rates.Publish5, q.Rates.Publish60},
			DeliverGet: rateDetails{q.Rates.Deliver5, q.Rates.Deliver60},
			Ack:        rateDetails{q.Rates.Ack5, q.Rates.Ack60},
		},
	}
}

// queueSorts are the fields a queue list sorts by. name and vhost page
// from the definitions alone, reading counts for one page; the others
// need every listed queue's counts (cost: the whole filtered list).
var queueSorts = []string{"name", "vhost", "messages", "messages_ready", "messages_unacknowledged", "consumers", "message_bytes_ready",
	"message_stats.publish_details.rate", "message_stats.deliver_get_details.rate", "message_stats.ack_details.rate"}

func queueNumber(q queueJSON, field string) float64 {
	switch field {
	case "messages":
		return float64(q.Messages)
	case "messages_ready":
		return float64(q.MessagesReady)
	case "messages_unacknowledged":
		return float64(q.MessagesUnacknowledged)
	case "consumers":
		return float64(q.Consumers)
	case "message_bytes_ready":
		return float64(q.MessageBytesReady)
	case "message_stats.publish_details.rate":
		return q.MessageStats.Publish.Rate
	case "message_stats.deliver_get_details.rate":
		return q.MessageStats.DeliverGet.Rate
	case "message_stats.ack_details.rate":
		return q.MessageStats.Ack.Rate
	}
	return 0
}

// queueRef names a queue of a listing before its counts are read.
type queueRef struct{ vhost, name string }

// listedVHosts are the virtual hosts a list call covers: the one in its
// path, or every one the caller may list (monitoring, or access to it).
func (s *Server) listedVHosts(r *http.Request, c *caller) ([]string, error) {
	if strings.Contains(r.Pattern, "{vhost}") {
		vh := r.PathValue("vhost")
		if err := checkName("virtual host", vh, false); err != nil {
			return nil, err
		}
		if err := s.authorize(c, vh, access.ListingNeeds()...); err != nil {
			return nil, err
		}
		return []string{vh}, nil
	}
	all, _ := s.b.VHostsAfter("", maxVHostsListed)
	out := make([]string, 0, len(all))
	for _, vh := range all {
		if s.authorize(c, vh, access.ListingNeeds()...) == nil {
			out = append(out, vh)
		}
	}
	return out, nil
}

// maxVHostsListed bounds the virtual hosts a cluster-wide list walks.
const maxVHostsListed = 10_000

// listQueues answers GET /api/queues and /api/queues/{vhost}.
func (s *Server) listQueues(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := parseList(r, queueSorts)
	if err != nil {
		return err
	}
	vhosts, err := s.listedVHosts(r, c)
	if err != nil {
		return err
	}
	var refs []queueRef
	total := 0
	for _, vh := range vhosts {
		names := s.b.QueueNames(vh)
		total += len(names)
		for _, n := range names {
			if p.filter == nil || p.filter(n) {
				refs = append(refs, queueRef{vh, n})
			}
		}
	}
	filtered := len(refs)
	byKey := p.sort == "name" || p.sort == "vhost"
	if byKey {
		slices.SortStableFunc(refs, func(a, b queueRef) int {
			c := cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.vhost, b.vhost))
			if p.sort == "vhost" {
				c = cmp.Or(cmp.Compare(a.vhost, b.vhost), cmp.Compare(a.name, b.name))
			}
			if p.reverse {
				return -c
			}
			return c
		})
		start, end := p.bounds(len(refs))
		refs = refs[start:end]
	}
	queues, err := s.readQueues(r, refs)
	if err != nil {
		return err
	}
	if !byKey {
		filtered = len(queues)
		slices.SortStableFunc(queues, func(a, b queueJSON) int {
			c := cmp.Or(cmp.Compare(queueNumber(a, p.sort), queueNumber(b, p.sort)), cmp.Compare(a.Name, b.Name), cmp.Compare(a.VHost, b.VHost))
			if p.reverse {
				return -c
			}
			return c
		})
		start, end := p.bounds(len(queues))
		queues = queues[start:end]
	}
	writeJSON(w, http.StatusOK, answer(p, queues, filtered, total))
	return nil
}

// readQueues reads the counts and rates of refs, one broker call per
// virtual host, in the order of refs (queues deleted meanwhile left out).
func (s *Server) readQueues(r *http.Request, refs []queueRef) ([]queueJSON, error) {
	byVHost := map[string][]string{}
	var order []string
	for _, q := range refs {
		if _, ok := byVHost[q.vhost]; !ok {
			order = append(order, q.vhost)
		}
		byVHost[q.vhost] = append(byVHost[q.vhost], q.name)
	}
	got := map[queueRef]broker.Queue{}
	for _, vh := range order {
		qs, err := s.b.QueuesNamed(r.Context(), vh, byVHost[vh])
		if err != nil {
			return nil, err
		}
		for _, q := range qs {
			got[queueRef{vh, q.Name}] = q
		}
	}
	out := make([]queueJSON, 0, len(refs))
	for _, ref := range refs {
		if q, ok := got[ref]; ok {
			out = append(out, queueOut(q))
		}
	}
	return out, nil
}

// getQueue answers GET /api/queues/{vhost}/{name}: the queue with its
// bindings.
func (s *Server) getQueue(w http.ResponseWriter, r *http.Request, c *caller) error {
	vh, name, err := vhostAndName(r, "queue")
	if err != nil {
		return err
	}
	if err := s.authorize(c, vh, access.ListingNeeds()...); err != nil {
		return err
	}
	qs, err := s.b.QueuesNamed(r.Context(), vh, []string{name})
	if err != nil {
		return err
	}
	if len(qs) == 0 {
		return notFound("no queue %q in virtual host %q", name, vh)
	}
	out := queueOut(qs[0])
	cs, more, err := s.b.QueueConsumers(r.Context(), vh, name, maxConsumersShown)
	if err != nil {
		return err
	}
	out.ConsumerDetails, out.Truncated = make([]consumerJSON, len(cs)), more
	sac := false
	for _, k := range [...]string{"x-single-active-consumer", "single-active-consumer"} {
		if v, ok := qs[0].Args[k]; ok && v.Type == broker.ValueBool && v.Bool {
			sac = true
		}
	}
	for i, c := range cs {
		// Every consumer is active but on a single-active-consumer queue.
		active := !sac || qs[0].ActiveConsumer == c.Tag
		out.ConsumerDetails[i] = consumerJSON{ConsumerTag: c.Tag, Session: c.Session, PrefetchCount: c.Prefetch, AckRequired: !c.AutoAck, Unacked: c.Unacked, Active: active}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// vhostAndName reads {vhost} and {name}.
func vhostAndName(r *http.Request, what string) (string, string, error) {
	vh, err := pathName(r, "vhost", "virtual host")
	if err != nil {
		return "", "", err
	}
	name, err := pathName(r, "name", what)
	return vh, name, err
}

// declareQueueRequest is the body of PUT /api/queues/{vhost}/{name}.
type declareQueueRequest struct {
	Durable    *bool          `json:"durable"`
	AutoDelete bool           `json:"auto_delete"`
	Exclusive  bool           `json:"exclusive"`
	Arguments  map[string]any `json:"arguments"`
	Node       string         `json:"node"`
}

// declareQueue answers PUT /api/queues/{vhost}/{name}: 201 when created,
// 204 when it existed with the same properties, 409 when with others.
func (s *Server) declareQueue(w http.ResponseWriter, r *http.Request, c *caller) error {
	vh, name, err := vhostAndName(r, "queue")
	if err != nil {
		return err
	}
	var req declareQueueRequest
	if err := decode(w, r, maxControlBody, &req); err != nil {
		return err
	}
	switch {
	case req.Durable != nil && !*req.Durable:
		return badRequest("durable false: every Warren queue is durable (replicated); leave it out or set true")
	case req.Exclusive:
		return badRequest("exclusive: an exclusive queue belongs to a client session, which an HTTP call does not have; declare it from the client")
	case req.Node != "":
		return badRequest("node: Warren places queues in groups itself; leave it out")
	}
	args, err := toValues("arguments", req.Arguments)
	if err != nil {
		return err
	}
	var dlx []string
	for _, k := range [...]string{"x-dead-letter-exchange", "dead-letter-exchange"} {
		if v, ok := args[k]; ok && v.Type == broker.ValueString {
			dlx = append(dlx, v.Str)
		}
	}
	if err := s.authorize(c, vh, access.DeclareQueueNeeds(name, false, dlx...)...); err != nil {
		return err
	}
	if err := broker.CheckQueueArgs(name, args); err != nil {
		return badRequest("%v", err)
	}
	_, lookupErr := s.b.Queue(vh, name)
	if _, _, err := s.b.DeclareQueue(r.Context(), broker.QueueSpec{VHost: vh, Name: name, AutoDelete: req.AutoDelete, Args: args}); err != nil {
		return err
	}
	if lookupErr == nil { // it existed, with these properties
		return noContent(w)
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// deleteQueue answers DELETE /api/queues/{vhost}/{name}, with RabbitMQ's
// if-unused and if-empty query conditions.
func (s *Server) deleteQueue(w http.ResponseWriter, r *http.Request, c *caller) error {
	vh, name, err := vhostAndName(r, "queue")
	if err != nil {
		return err
	}
	ifUnused, ifEmpty, err := deleteConditions(r)
	if err != nil {
		return err
	}
	if err := s.authorize(c, vh, access.DeleteQueueNeeds(name)...); err != nil {
		return err
	}
	if _, _, err := s.b.DeleteQueue(r.Context(), name, broker.DeleteQueueOptions{VHost: vh, IfUnused: ifUnused, IfEmpty: ifEmpty}); err != nil {
		return err
	}
	return noContent(w)
}

// deleteConditions reads if-unused and if-empty (true or false).
func deleteConditions(r *http.Request) (ifUnused, ifEmpty bool, err error) {
	for k, v := range r.URL.Query() {
		var b *bool
		switch k {
		case "if-unused":
			b = &ifUnused
		case "if-empty":
			b = &ifEmpty
		default:
			return false, false, badRequest("unknown query parameter %q; delete takes if-unused and if-empty", k)
		}
		switch v[0] {
		case "true":
			*b = true
		case "false", "":
		default:
			return false, false, badRequest("%s %q: true or false", k, v[0])
		}
	}
	return ifUnused, ifEmpty, nil
}

// purgeQueue answers DELETE /api/queues/{vhost}/{name}/contents.
func (s *Server) purgeQueue(w http.ResponseWriter, r *http.Request, c *caller) error {
	vh, name, err := vhostAndName(r, "queue")
	if err != nil {
		return err
	}
	if err := s.authorize(c, vh, access.PurgeQueueNeeds(name)...); err != nil {
		return err
	}
	if _, err := s.b.PurgeQueue(r.Context(), vh, name, ""); err != nil {
		return err
	}
	return noContent(w)
}
