package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/warrenmq/warren/client"
)

// printer writes results as text or as JSON (one compact document per line).
type printer struct {
	w    io.Writer
	json bool
}

func (a *app) printer() printer { return printer{w: a.stdout, json: a.output == "json"} }

// emit writes v as one JSON line in JSON mode, else the text line.
func (p printer) emit(v any, text string) error {
	if p.json {
		return p.writeJSON(v)
	}
	_, err := fmt.Fprintln(p.w, text)
	return err
}

func (p printer) writeJSON(v any) error {
	return json.NewEncoder(p.w).Encode(v)
}

// table writes rows under a header in text mode, or v in JSON mode.
func (p printer) table(v any, header []string, rows [][]string) error {
	if p.json {
		return p.writeJSON(v)
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// formatArgs renders arguments or headers as k=v pairs sorted by key; a
// value-less key shows alone.
func formatArgs(m map[string]any) string {
	if len(m) == 0 {
		return ""
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] == nil {
			parts = append(parts, k)
			continue
		}
		parts = append(parts, k+"="+formatValue(m[k]))
	}
	return strings.Join(parts, ",")
}

func formatValue(v any) string {
	switch x := v.(type) {
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return "0x" + hex.EncodeToString(x)
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

// deliveryJSON is the JSON form of a delivery (get and consume).
type deliveryJSON struct {
	Body            string         `json:"body"`
	BodyBase64      []byte         `json:"body_base64,omitempty"` // set when the body is not UTF-8
	Exchange        string         `json:"exchange"`
	RoutingKey      string         `json:"routing_key"`
	Queue           string         `json:"queue"`
	Redelivered     bool           `json:"redelivered"`
	DeliveryCount   uint32         `json:"delivery_count"`
	DeliveryTag     uint64         `json:"delivery_tag"`
	ConsumerTag     string         `json:"consumer_tag,omitempty"`
	Headers         map[string]any `json:"headers"`
	ContentType     string         `json:"content_type,omitempty"`
	ContentEncoding string         `json:"content_encoding,omitempty"`
	MessageID       string         `json:"message_id,omitempty"`
	CorrelationID   string         `json:"correlation_id,omitempty"`
	ReplyTo         string         `json:"reply_to,omitempty"`
	Type            string         `json:"type,omitempty"`
	AppID           string         `json:"app_id,omitempty"`
	ExpirationMs    int64          `json:"expiration_ms,omitempty"`
	Timestamp       *time.Time     `json:"timestamp,omitempty"`
	Priority        uint8          `json:"priority,omitempty"`
}

// printDelivery writes one delivery: the text line
//
//	tag=N [consumer=C] key=K redelivered=true|false BODY
//
// (consumer= only for a subscription's deliveries), or one JSON object.
// The fields are named so a tag cannot be read as a shell job number
// ("[1]"), and the consumer tag tells apart the lines of several workers
// sharing a terminal, which shows the round-robin.
func (p printer) printDelivery(d *client.Delivery) error {
	if !p.json {
		consumer := ""
		if d.ConsumerTag != "" {
			consumer = "consumer=" + field(d.ConsumerTag) + " "
		}
		_, err := fmt.Fprintf(p.w, "tag=%d %skey=%s redelivered=%t %s\n", d.DeliveryTag, consumer, field(d.RoutingKey), d.Redelivered, d.Body)
		return err
	}
	j := deliveryJSON{
		Body: string(d.Body), Exchange: d.Exchange, RoutingKey: d.RoutingKey, Queue: d.Queue,
		Redelivered: d.Redelivered, DeliveryCount: d.DeliveryCount, DeliveryTag: d.DeliveryTag,
		ConsumerTag: d.ConsumerTag, Headers: d.Headers,
		ContentType: d.ContentType, ContentEncoding: d.ContentEncoding, MessageID: d.MessageID,
		CorrelationID: d.CorrelationID, ReplyTo: d.ReplyTo, Type: d.Type, AppID: d.AppID,
		ExpirationMs: d.Expiration.Milliseconds(), Priority: d.Priority,
	}
	if j.Headers == nil {
		j.Headers = map[string]any{}
	}
	if !utf8.Valid(d.Body) {
		j.BodyBase64 = d.Body
	}
	if !d.Timestamp.IsZero() {
		j.Timestamp = &d.Timestamp
	}
	return p.writeJSON(j)
}

// field renders a name as one space-free field of a text line: as is, or
// Go-quoted when it is empty or holds a space, a quote or an unprintable
// rune.
func field(v string) string {
	if v == "" || strings.ContainsFunc(v, func(r rune) bool { return r == '"' || !unicode.IsPrint(r) || unicode.IsSpace(r) }) {
		return strconv.Quote(v)
	}
	return v
}

// parseKV parses k=v arguments: v becomes an int64 when it parses as one,
// a bool for "true"/"false", else a string; a bare k (no "=") is a
// value-less key (a presence match in a headers binding).
func parseKV(flag string, items []string) (map[string]any, error) {
	if len(items) == 0 {
		return nil, nil
	}
	m := make(map[string]any, len(items))
	for _, it := range items {
		k, v, hasValue := strings.Cut(it, "=")
		if k == "" {
			return nil, usagef("--%s %q: empty key", flag, it)
		}
		switch {
		case !hasValue:
			m[k] = nil
		case v == "true" || v == "false":
			m[k] = v == "true"
		default:
			if i, err := strconv.ParseInt(v, 10, 64); err == nil {
				m[k] = i
			} else {
				m[k] = v
			}
		}
	}
	return m, nil
}
