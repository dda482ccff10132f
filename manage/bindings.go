package manage

import (
	"net/http"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
)

// bindingJSON is a binding as RabbitMQ's API shows it.
type bindingJSON struct {
	Source          string         `json:"source"`
	VHost           string         `json:"vhost"`
	Destination     string         `json:"destination"`
	DestinationType string         `json:"destination_type"`
	RoutingKey      string         `json:"routing_key"`
	Arguments       map[string]any `json:"arguments"`
	// PropertiesKey names the binding in DELETE
	// /api/bindings/{vhost}/e/{source}/q/{destination}/{props}: its routing
	// key ("~" for ""), for bindings without arguments.
	PropertiesKey string `json:"properties_key"`
}

func bindingOut(vh string, b broker.Binding) bindingJSON {
	kind := "queue"
	if b.ToExchange {
		kind = "exchange"
	}
	props := b.Key
	if props == "" {
		props = "~"
	}
	return bindingJSON{Source: b.Exchange, VHost: vh, Destination: b.Queue, DestinationType: kind, RoutingKey: b.Key, Arguments: fromValues(b.Args), PropertiesKey: props}
}

var bindingSorts = []string{"source", "destination", "routing_key", "vhost"}

func bindingKey(b bindingJSON, f string) string {
	k := b.Source + "\x00" + b.Destination + "\x00" + b.RoutingKey
	switch f {
	case "destination":
		return b.Destination + "\x00" + k
	case "routing_key":
		return b.RoutingKey + "\x00" + k
	case "vhost":
		return b.VHost + "\x00" + k
	}
	return k
}

// listBindings answers GET /api/bindings[/{vhost}], and the bindings of
// one queue or exchange (source or destination); the name filter applies
// to the source. Definitions are in memory: the whole list is sorted.
func (s *Server) listBindings(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := parseList(r, bindingSorts)
	if err != nil {
		return err
	}
	vhosts, err := s.listedVHosts(r, c)
	if err != nil {
		return err
	}
	var exchange, queue string
	var kind = broker.AnyDestination
	switch r.Pattern {
	case "/api/queues/{vhost}/{name}/bindings":
		queue, kind = r.PathValue("name"), broker.QueueDestination
	case "/api/exchanges/{vhost}/{name}/bindings/source":
		exchange = r.PathValue("name")
		if exchange == defaultExchangePath {
			exchange = ""
		}
	}
	if err := checkName("binding end", exchange+queue, true); err != nil {
		return err
	}
	var all []bindingJSON
	for _, vh := range vhosts {
		bs, _ := s.b.BindingsAfter(vh, exchange, queue, kind, "", maxBindingsListed)
		for _, b := range bs {
			all = append(all, bindingOut(vh, b))
		}
	}
	writeJSON(w, http.StatusOK, pageList(p, all, func(b bindingJSON) string { return b.Source }, bindingKey))
	return nil
}

// maxBindingsListed bounds the bindings one list call reads per vhost.
const maxBindingsListed = 100_000

// bindRequest is the body of POST /api/bindings/{vhost}/e/{source}/{q|e}/{destination}.
type bindRequest struct {
	RoutingKey string         `json:"routing_key"`
	Arguments  map[string]any `json:"arguments"`
}

// bindingPath reads a binding's vhost, source and destination.
func bindingPath(r *http.Request) (vh, source, dest string, toExchange bool, err error) {
	if vh, err = pathName(r, "vhost", "virtual host"); err != nil {
		return
	}
	if source, err = pathName(r, "source", "source exchange"); err != nil {
		return
	}
	if source == defaultExchangePath {
		source = ""
	}
	dest, err = pathName(r, "destination", "destination")
	toExchange = r.PathValue("kind") == "e"
	if k := r.PathValue("kind"); k != "q" && k != "e" {
		err = notFound("binding destination kind %q: q (queue) or e (exchange)", k)
	}
	return
}

// bind answers POST /api/bindings/{vhost}/e/{source}/{kind}/{destination}.
func (s *Server) bind(w http.ResponseWriter, r *http.Request, c *caller) error {
	vh, source, dest, toExchange, err := bindingPath(r)
	if err != nil {
		return err
	}
	var req bindRequest
	if err := decode(w, r, maxControlBody, &req); err != nil {
		return err
	}
	if len(req.RoutingKey) > maxNameBytes {
		return badRequest("routing_key is %d bytes long; the limit is %d", len(req.RoutingKey), maxNameBytes)
	}
	args, err := toValues("arguments", req.Arguments)
	if err != nil {
		return err
	}
	if err := s.authorize(c, vh, access.BindNeeds(source, dest, toExchange)...); err != nil {
		return err
	}
	if _, err := s.b.Bind(r.Context(), broker.Binding{VHost: vh, Exchange: source, Queue: dest, ToExchange: toExchange, Key: req.RoutingKey, Args: args}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// unbind answers DELETE /api/bindings/{vhost}/e/{source}/{kind}/{destination}/{props},
// props being the routing key ("~" for ""); a binding with arguments is
// removed with the gRPC API.
func (s *Server) unbind(w http.ResponseWriter, r *http.Request, c *caller) error {
	vh, source, dest, toExchange, err := bindingPath(r)
	if err != nil {
		return err
	}
	key := r.PathValue("props")
	if key == "~" {
		key = ""
	}
	if len(key) > maxNameBytes {
		return badRequest("routing key is %d bytes long; the limit is %d", len(key), maxNameBytes)
	}
	if err := s.authorize(c, vh, access.BindNeeds(source, dest, toExchange)...); err != nil {
		return err
	}
	if _, err := s.b.Unbind(r.Context(), broker.Binding{VHost: vh, Exchange: source, Queue: dest, ToExchange: toExchange, Key: key}); err != nil {
		return err
	}
	return noContent(w)
}
