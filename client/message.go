package client

import (
	"time"

	"github.com/warrenmq/warren/transport/warrenpb"
)

// Message is a message to publish, and the content of a Delivery.
//
// Header values may be string; int, int8, int16, int32, int64, uint8, uint16,
// uint32, or uint and uint64 up to MaxInt64 (all sent as a 64-bit integer);
// bool; float32 or float64; []byte; or nil (a key without a value). Any other
// type makes the publish fail with ErrUnsupportedValue before anything is
// sent. Received headers hold string, int64, bool, float64, []byte or nil.
type Message struct {
	// Body is the payload; the server does not interpret it.
	Body []byte
	// Headers are typed application headers, matched by headers exchanges.
	Headers map[string]any
	// ContentType is the MIME type of Body, e.g. "application/json".
	ContentType string
	// ContentEncoding is the encoding of Body, e.g. "gzip".
	ContentEncoding string
	// MessageID is an application message id.
	MessageID string
	// CorrelationID correlates a reply with its request.
	CorrelationID string
	// ReplyTo names a queue to reply to.
	ReplyTo string
	// Type is an application message type name.
	Type string
	// AppID names the producing application.
	AppID string
	// UserID names the producing user.
	UserID string
	// Expiration is the message's time to live, rounded up to whole
	// milliseconds; 0 means none.
	Expiration time.Duration
	// Timestamp is a producer-set time (millisecond resolution); the zero
	// Time means none.
	Timestamp time.Time
	// Priority is the message priority.
	Priority uint8
}

// toProto converts m for the wire.
func (m *Message) toProto() (*warrenpb.Message, error) {
	headers, err := toValues("header", m.Headers)
	if err != nil {
		return nil, err
	}
	if m.Expiration < 0 {
		return nil, invalid("negative expiration %v", m.Expiration)
	}
	var ts int64
	if !m.Timestamp.IsZero() {
		ts = m.Timestamp.UnixMilli()
	}
	return &warrenpb.Message{
		Body:    m.Body,
		Headers: headers,
		Properties: &warrenpb.Properties{
			ContentType:     m.ContentType,
			ContentEncoding: m.ContentEncoding,
			MessageId:       m.MessageID,
			CorrelationId:   m.CorrelationID,
			ReplyTo:         m.ReplyTo,
			ExpirationMs:    millisCeil(m.Expiration),
			TimestampMs:     ts,
			Type:            m.Type,
			AppId:           m.AppID,
			UserId:          m.UserID,
			Priority:        uint32(m.Priority),
		},
	}, nil
}

// messageFromProto converts a received message.
func messageFromProto(pm *warrenpb.Message) Message {
	p := pm.GetProperties()
	m := Message{
		Body:            pm.GetBody(),
		Headers:         fromValues(pm.GetHeaders()),
		ContentType:     p.GetContentType(),
		ContentEncoding: p.GetContentEncoding(),
		MessageID:       p.GetMessageId(),
		CorrelationID:   p.GetCorrelationId(),
		ReplyTo:         p.GetReplyTo(),
		Type:            p.GetType(),
		AppID:           p.GetAppId(),
		UserID:          p.GetUserId(),
		Expiration:      time.Duration(p.GetExpirationMs()) * time.Millisecond,
		Priority:        uint8(min(p.GetPriority(), 255)),
	}
	if ms := p.GetTimestampMs(); ms != 0 {
		m.Timestamp = time.UnixMilli(ms)
	}
	return m
}

// millisCeil converts a non-negative d to whole milliseconds, rounding up.
func millisCeil(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// checkInt32 validates a count that the wire carries as int32.
func checkInt32(what string, n int) (int32, error) {
	if n < 0 || n > 1<<31-1 {
		return 0, invalid("%s %d out of range", what, n)
	}
	return int32(n), nil
}
