package manage

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
)

// defaultExchangePath names the default exchange ("") in a path, as
// RabbitMQ's API does.
const defaultExchangePath = "amq.default"

// exchangeJSON is an exchange as the API shows it.
type exchangeJSON struct {
	Name       string         `json:"name"`
	VHost      string         `json:"vhost"`
	Type       string         `json:"type"`
	Durable    bool           `json:"durable"`
	AutoDelete bool           `json:"auto_delete"`
	Internal   bool           `json:"internal"`
	Builtin    bool           `json:"builtin"`
	Arguments  map[string]any `json:"arguments"`
}

func exchangeOut(vh string, x broker.Exchange) exchangeJSON {
	return exchangeJSON{
		Name: x.Name, VHost: vh, Type: x.Kind, Durable: true, AutoDelete: x.AutoDelete, Internal: x.Internal,
		Builtin: x.Builtin, Arguments: fromValues(x.Args),
	}
}

var exchangeSorts = []string{"name", "vhost", "type"}

// listExchanges answers GET /api/exchanges and /api/exchanges/{vhost}:
// the definitions are in memory, so the whole filtered list is sorted.
func (s *Server) listExchanges(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := parseList(r, exchangeSorts)
	if err != nil {
		return err
	}
	vhosts, err := s.listedVHosts(r, c)
	if err != nil {
		return err
	}
	var all []exchangeJSON
	for _, vh := range vhosts {
		for _, x := range s.b.Exchanges(vh) {
			all = append(all, exchangeOut(vh, x))
		}
	}
	writeJSON(w, http.StatusOK, pageList(p, all, func(x exchangeJSON) string { return x.Name }, func(x exchangeJSON, f string) string {
		switch f {
		case "vhost":
			return x.VHost + "\x00" + x.Name
		case "type":
			return x.Type + "\x00" + x.Name
		}
		return x.Name + "\x00" + x.VHost
	}))
	return nil
}

// exchangeName reads {vhost} and {name}, the default exchange's path name
// turned into "".
func exchangeName(r *http.Request) (string, string, error) {
	vh, name, err := vhostAndName(r, "exchange")
	if name == defaultExchangePath {
		name = ""
	}
	return vh, name, err
}

func (s *Server) getExchange(w http.ResponseWriter, r *http.Request, c *caller) error {
	vh, name, err := exchangeName(r)
	if err != nil {
		return err
	}
	if err := s.authorize(c, vh, access.ListingNeeds()...); err != nil {
		return err
	}
	x, err := s.b.Exchange(vh, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, exchangeOut(vh, x))
	return nil
}

// declareExchangeRequest is the body of PUT /api/exchanges/{vhost}/{name}.
type declareExchangeRequest struct {
	Type       string         `json:"type"`
	Durable    *bool          `json:"durable"`
	AutoDelete bool           `json:"auto_delete"`
	Internal   bool           `json:"internal"`
	Arguments  map[string]any `json:"arguments"`
}

func (s *Server) declareExchange(w http.ResponseWriter, r *http.Request, c *caller) error {
	vh, name, err := exchangeName(r)
	if err != nil {
		return err
	}
	if name == "" || strings.HasPrefix(name, "amq.") {
		return &apiError{http.StatusForbidden, "access_refused", "exchange names starting with amq. are reserved for the broker's own exchanges"}
	}
	var req declareExchangeRequest
	if err := decode(w, r, maxControlBody, &req); err != nil {
		return err
	}
	if req.Durable != nil && !*req.Durable {
		return badRequest("durable false: every Warren exchange is durable (replicated); leave it out or set true")
	}
	if err := broker.CheckExchangeKind(req.Type); err != nil {
		return badRequest("type: %v", err)
	}
	args, err := toValues("arguments", req.Arguments)
	if err != nil {
		return err
	}
	if err := broker.CheckExchangeArgs(args); err != nil {
		return badRequest("%v", err)
	}
	if err := s.authorize(c, vh, access.DeclareExchangeNeeds(name, false)...); err != nil {
		return err
	}
	_, lookupErr := s.b.Exchange(vh, name)
	if _, err := s.b.DeclareExchange(r.Context(), broker.ExchangeSpec{
		VHost: vh, Name: name, Kind: req.Type, AutoDelete: req.AutoDelete, Internal: req.Internal, Args: args,
	}); err != nil {
		return err
	}
	if lookupErr == nil {
		return noContent(w)
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Server) deleteExchange(w http.ResponseWriter, r *http.Request, c *caller) error {
	vh, name, err := exchangeName(r)
	if err != nil {
		return err
	}
	ifUnused, ifEmpty, err := deleteConditions(r)
	if err != nil {
		return err
	}
	if ifEmpty {
		return badRequest("if-empty: exchanges hold no messages; only if-unused applies")
	}
	if err := s.authorize(c, vh, access.DeleteExchangeNeeds(name)...); err != nil {
		return err
	}
	if _, err := s.b.DeleteExchange(r.Context(), vh, name, ifUnused); err != nil {
		return err
	}
	return noContent(w)
}

// propertiesJSON are a message's properties as RabbitMQ's API names them.
type propertiesJSON struct {
	ContentType     string         `json:"content_type,omitempty"`
	ContentEncoding string         `json:"content_encoding,omitempty"`
	DeliveryMode    int            `json:"delivery_mode,omitempty"`
	Priority        uint32         `json:"priority,omitempty"`
	CorrelationID   string         `json:"correlation_id,omitempty"`
	ReplyTo         string         `json:"reply_to,omitempty"`
	Expiration      string         `json:"expiration,omitempty"`
	MessageID       string         `json:"message_id,omitempty"`
	Timestamp       int64          `json:"timestamp,omitempty"`
	Type            string         `json:"type,omitempty"`
	UserID          string         `json:"user_id,omitempty"`
	AppID           string         `json:"app_id,omitempty"`
	Headers         map[string]any `json:"headers,omitempty"`
}

func propertiesOut(m broker.Message) propertiesJSON {
	p := m.Properties
	out := propertiesJSON{
		ContentType: p.ContentType, ContentEncoding: p.ContentEncoding, DeliveryMode: 2, Priority: p.Priority,
		CorrelationID: p.CorrelationID, ReplyTo: p.ReplyTo, MessageID: p.MessageID, Timestamp: p.TimestampMs / 1000,
		Type: p.Type, UserID: p.UserID, AppID: p.AppID,
	}
	if p.ExpirationMs > 0 {
		out.Expiration = strconv.FormatInt(p.ExpirationMs, 10)
	}
	if len(m.Headers) > 0 {
		out.Headers = fromValues(m.Headers)
	}
	return out
}

// publishRequest is the body of POST /api/exchanges/{vhost}/{name}/publish.
type publishRequest struct {
	RoutingKey      string          `json:"routing_key"`
	Payload         string          `json:"payload"`
	PayloadEncoding string          `json:"payload_encoding"`
	Properties      json.RawMessage `json:"properties"`
}

// publishProperties is what a publish may set; anything else is refused.
type publishProperties struct {
	ContentType     string         `json:"content_type"`
	ContentEncoding string         `json:"content_encoding"`
	DeliveryMode    json.Number    `json:"delivery_mode"`
	Priority        *uint32        `json:"priority"`
	CorrelationID   string         `json:"correlation_id"`
	ReplyTo         string         `json:"reply_to"`
	Expiration      string         `json:"expiration"`
	MessageID       string         `json:"message_id"`
	Timestamp       int64          `json:"timestamp"`
	Type            string         `json:"type"`
	UserID          string         `json:"user_id"`
	AppID           string         `json:"app_id"`
	Headers         map[string]any `json:"headers"`
}

// publish answers POST /api/exchanges/{vhost}/{name}/publish with
// {"routed": bool}, as RabbitMQ (published as mandatory, so that an
// unroutable message is reported; it is dropped either way); a message a
// queue refused (overflow reject-publish) is 409.
func (s *Server) publish(w http.ResponseWriter, r *http.Request, c *caller) error {
	vh, name, err := exchangeName(r)
	if err != nil {
		return err
	}
	var req publishRequest
	if err := decode(w, r, s.maxBody, &req); err != nil {
		return err
	}
	if len(req.RoutingKey) > maxNameBytes {
		return badRequest("routing_key is %d bytes long; the limit is %d", len(req.RoutingKey), maxNameBytes)
	}
	var body []byte
	switch req.PayloadEncoding {
	case "string", "":
		body = []byte(req.Payload)
	case "base64":
		if body, err = base64.StdEncoding.DecodeString(req.Payload); err != nil {
			return badRequest("payload: not base64: %v", err)
		}
	default:
		return badRequest("payload_encoding %q: string or base64", req.PayloadEncoding)
	}
	if len(body) > s.cfg.MaxMessageBytes {
		return &apiError{http.StatusRequestEntityTooLarge, "too_large", "message body is " + strconv.Itoa(len(body)) + " bytes; the limit is " + strconv.Itoa(s.cfg.MaxMessageBytes)}
	}
	msg, err := messageOf(req.Properties, body)
	if err != nil {
		return err
	}
	if err := s.authorize(c, vh, access.PublishNeeds(name)...); err != nil {
		return err
	}
	if err := s.cfg.Watermarks.Check(); err != nil {
		return err
	}
	outcomes, err := s.b.Publish(r.Context(), vh, "", []broker.PublishEntry{{Exchange: name, RoutingKey: req.RoutingKey, Message: msg, Mandatory: true}})
	if err != nil {
		return err
	}
	o := outcomes[0]
	switch o.Status {
	case broker.PublishRejected:
		return &apiError{http.StatusConflict, "rejected", "a queue refused the message: " + o.Reason}
	case broker.PublishUnroutable:
		writeJSON(w, http.StatusOK, map[string]bool{"routed": false})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]bool{"routed": true})
	return nil
}

// messageOf builds a message from a publish's properties.
func messageOf(raw json.RawMessage, body []byte) (broker.Message, error) {
	msg := broker.Message{Body: body}
	if len(raw) == 0 || string(raw) == "null" {
		return msg, nil
	}
	var p publishProperties
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return msg, badRequest("properties: %v", err)
	}
	switch p.DeliveryMode {
	case "", "2":
	default:
		return msg, badRequest("properties.delivery_mode %s: Warren stores every message (2, persistent); leave it out or give 2", p.DeliveryMode)
	}
	for what, v := range map[string]string{"content_type": p.ContentType, "content_encoding": p.ContentEncoding, "correlation_id": p.CorrelationID,
		"reply_to": p.ReplyTo, "message_id": p.MessageID, "type": p.Type, "user_id": p.UserID, "app_id": p.AppID} {
		if len(v) > maxNameBytes {
			return msg, badRequest("properties.%s is %d bytes long; the limit is %d", what, len(v), maxNameBytes)
		}
	}
	props := broker.Properties{
		ContentType: p.ContentType, ContentEncoding: p.ContentEncoding, CorrelationID: p.CorrelationID, ReplyTo: p.ReplyTo,
		MessageID: p.MessageID, TimestampMs: p.Timestamp * 1000, Type: p.Type, UserID: p.UserID, AppID: p.AppID,
	}
	if p.Priority != nil {
		if *p.Priority > 255 {
			return msg, badRequest("properties.priority %d: 0 to 255", *p.Priority)
		}
		props.Priority = *p.Priority
	}
	if p.Expiration != "" {
		ms, err := strconv.ParseInt(p.Expiration, 10, 64)
		if err != nil || ms < 0 {
			return msg, badRequest("properties.expiration %q: milliseconds, as a string of digits (RabbitMQ's form)", p.Expiration)
		}
		props.ExpirationMs = ms
	}
	headers, err := toValues("properties.headers", p.Headers)
	if err != nil {
		return msg, err
	}
	msg.Properties, msg.Headers = props, headers
	return msg, nil
}
