package client

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// Defaults applied by New before the caller's options.
const (
	// DefaultPublishBatchMessages is the most messages one PublishRequest carries.
	DefaultPublishBatchMessages = 256
	// DefaultPublishBatchDelay is how long the batcher waits, after the first
	// message of a batch, for more messages to join it, while other
	// requests await their confirms (with none in flight it sends at once).
	DefaultPublishBatchDelay = time.Millisecond
	// DefaultPublishBatchBytes is the most encoded entry bytes one
	// PublishRequest carries (a single larger message is sent alone).
	DefaultPublishBatchBytes = 1 << 20
	// DefaultPublishInFlight is how many PublishRequests may await their
	// confirms at once.
	DefaultPublishInFlight = 8
	// DefaultKeepaliveTime is the interval of client keepalive pings on the
	// connection.
	DefaultKeepaliveTime = 10 * time.Second
	// DefaultKeepaliveTimeout is how long a keepalive ping may go unanswered
	// before the connection is considered dead.
	DefaultKeepaliveTimeout = 5 * time.Second
	// DefaultSessionPingInterval is the interval of pings on the Session stream.
	DefaultSessionPingInterval = 5 * time.Second
	// DefaultConnectTimeout bounds the readiness check of one address in New
	// (the ctx given to New bounds all of them).
	DefaultConnectTimeout = 5 * time.Second
	// DefaultReconnectBackoffMin is the first backoff delay: between full
	// rounds over the addresses when reconnecting, before retrying a call
	// that a node answered with Unavailable, and before re-subscribing.
	DefaultReconnectBackoffMin = 50 * time.Millisecond
	// DefaultReconnectBackoffMax caps the backoff delay, which doubles from
	// DefaultReconnectBackoffMin.
	DefaultReconnectBackoffMax = 2 * time.Second
	// DefaultConsumeHeartbeat is how often the node serving a consume
	// stream is asked to send a heartbeat while it has nothing else to
	// send; a stream that hears nothing for ConsumeSilenceIntervals of
	// them ends as Unavailable (Consume subscribes again).
	DefaultConsumeHeartbeat = 500 * time.Millisecond
	// DefaultSessionHeartbeat is how often the node the client is
	// connected to is asked to send a heartbeat on the session stream
	// while it has nothing else to send; a session that hears nothing for
	// ConsumeSilenceIntervals of them takes the node for silent and the
	// client moves to another address.
	DefaultSessionHeartbeat = 500 * time.Millisecond
)

// ConsumeSilenceIntervals is how many heartbeat intervals a consume stream
// may hear nothing before it counts as dead: its node went silent (paused,
// cut off), which TCP and gRPC keepalives would report only after 15 s.
// Waiting for a Subscribed answer is bounded by twice that.
const ConsumeSilenceIntervals = 4

// Option configures a Client in New. Options are applied in order over the
// documented defaults; an Option that returns an error makes New fail with it.
type Option func(*options) error

type options struct {
	dialOptions      []grpc.DialOption
	publisherID      string
	sessionID        string
	batchMessages    int
	batchDelay       time.Duration
	batchBytes       int
	publishInFlight  int
	keepaliveTime    time.Duration
	keepaliveTimeout time.Duration
	sessionPing      time.Duration
	connectTimeout   time.Duration
	backoffMin       time.Duration
	backoffMax       time.Duration
	onState          func(State)
	directConsume    bool
	directPublish    bool
	consumeHeartbeat time.Duration
	sessionHeartbeat time.Duration
	// user and password, when credentialsSet, are sent with every call;
	// otherwise guest/guest is, unless a client certificate names the user.
	user, password string
	credentialsSet bool
	clientCert     bool
	vhost          string
}

func defaultOptions() options {
	return options{
		publisherID:      randomID(),
		sessionID:        randomID(),
		batchMessages:    DefaultPublishBatchMessages,
		batchDelay:       DefaultPublishBatchDelay,
		batchBytes:       DefaultPublishBatchBytes,
		publishInFlight:  DefaultPublishInFlight,
		keepaliveTime:    DefaultKeepaliveTime,
		keepaliveTimeout: DefaultKeepaliveTimeout,
		sessionPing:      DefaultSessionPingInterval,
		connectTimeout:   DefaultConnectTimeout,
		backoffMin:       DefaultReconnectBackoffMin,
		backoffMax:       DefaultReconnectBackoffMax,
		directConsume:    true,
		directPublish:    true,
		consumeHeartbeat: DefaultConsumeHeartbeat,
		sessionHeartbeat: DefaultSessionHeartbeat,
	}
}

// randomID returns 128 random bits in hex.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics instead)
	return hex.EncodeToString(b[:])
}

// invalid returns an error wrapping ErrInvalidArgument that also carries
// the gRPC code InvalidArgument (status.Code finds it), as a server's
// refusal of the same mistake would.
func invalid(format string, args ...any) error {
	return invalidArgError{fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)}
}

// invalidArgError is what invalid returns.
type invalidArgError struct{ err error }

func (e invalidArgError) Error() string { return e.err.Error() }
func (e invalidArgError) Unwrap() error { return e.err }

// GRPCStatus makes status.Code and status.FromError see InvalidArgument.
func (e invalidArgError) GRPCStatus() *status.Status {
	return status.New(codes.InvalidArgument, e.err.Error())
}

// WithDialOptions appends gRPC dial options. They are applied after the
// client's own (insecure transport credentials and keepalive parameters), so
// for example grpc.WithTransportCredentials here replaces the insecure default.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) error {
		o.dialOptions = append(o.dialOptions, opts...)
		return nil
	}
}

// WithTLS makes the client dial with TLS, configured by a clone of cfg, every
// address it connects to: those given to New, in failover, and the leaders
// it dials for direct consume streams. It replaces the default insecure
// transport credentials (as WithDialOptions(grpc.WithTransportCredentials(…))
// would; of several such options the last wins).
//
// Leave cfg.ServerName empty for a client of several nodes: each connection
// then checks the server's certificate against the host of the address it
// dials (a DNS name, or an IP address, which the certificate must list as
// an IP SAN). A ServerName set in cfg is checked on every node instead, and
// is sent as the :authority of every call. cfg.RootCAs nil means the system
// roots; set cfg.Certificates or cfg.GetClientCertificate to present a client
// certificate (a node started with --tls-client-ca requires one). gRPC adds
// the "h2" protocol, and a MinVersion of TLS 1.2 when cfg sets none.
func WithTLS(cfg *tls.Config) Option {
	return func(o *options) error {
		if cfg == nil {
			return invalid("nil TLS config")
		}
		o.dialOptions = append(o.dialOptions, grpc.WithTransportCredentials(credentials.NewTLS(cfg.Clone())))
		o.clientCert = len(cfg.Certificates) > 0 || cfg.GetClientCertificate != nil
		return nil
	}
}

// WithCredentials logs in as user with password on every node the client
// reaches. Without it the client logs in as guest/guest (which a node lets
// in from loopback only, as RabbitMQ does), unless WithTLS presents a
// client certificate, whose common name then names the user. The password
// is sent with every call, so use it over TLS beyond loopback; the node
// verifies it once and remembers the result, not per call.
func WithCredentials(user, password string) Option {
	return func(o *options) error {
		if user == "" {
			return invalid("empty user name")
		}
		o.user, o.password, o.credentialsSet = user, password, true
		return nil
	}
}

// WithVHost picks the virtual host every call of the client works in
// (default "/").
func WithVHost(vhost string) Option {
	return func(o *options) error {
		if vhost == "" {
			return invalid("empty virtual host")
		}
		o.vhost = vhost
		return nil
	}
}

// WithPublisherID sets the publisher id sent with every PublishRequest; the
// server deduplicates retried publishes per publisher id and sequence number.
// The default is 128 random bits in hex, new for every Client. Two clients must
// not share a publisher id, since each numbers its messages from 1.
func WithPublisherID(id string) Option {
	return func(o *options) error {
		if id == "" {
			return invalid("empty publisher id")
		}
		o.publisherID = id
		return nil
	}
}

// WithSessionID sets the session id. The default is 128 random bits in hex.
// Two live clients must not share a session id.
func WithSessionID(id string) Option {
	return func(o *options) error {
		if id == "" || !utf8.ValidString(id) {
			return invalid("session id %q: empty or not valid UTF-8", id)
		}
		o.sessionID = id
		return nil
	}
}

// WithPublishBatch sets how the batcher coalesces publishes: at most
// maxMessages entries per PublishRequest (default 256), and a wait of at most
// maxDelay after the first entry of a batch for more to join (default 1ms;
// 0 sends whatever is queued at once, without waiting). The batcher waits
// only while at least half the request slots (WithPublishInFlight) are
// taken by other requests: a publish made when fewer are in flight goes
// at once.
func WithPublishBatch(maxMessages int, maxDelay time.Duration) Option {
	return func(o *options) error {
		if maxMessages < 1 {
			return invalid("publish batch of %d messages", maxMessages)
		}
		if maxDelay < 0 {
			return invalid("negative publish batch delay %v", maxDelay)
		}
		o.batchMessages, o.batchDelay = maxMessages, maxDelay
		return nil
	}
}

// WithPublishBatchBytes sets the most encoded entry bytes per PublishRequest
// (default 1 MiB). A single larger message is sent in a request of its own.
func WithPublishBatchBytes(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return invalid("publish batch of %d bytes", n)
		}
		o.batchBytes = n
		return nil
	}
}

// WithPublishInFlight sets how many PublishRequests may await their confirms
// at once (default 8). With 1, messages are committed in the order they were
// published.
func WithPublishInFlight(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return invalid("%d publish requests in flight", n)
		}
		o.publishInFlight = n
		return nil
	}
}

// WithKeepalive sets the interval of the connection's keepalive pings and how
// long a ping may go unanswered (defaults 10s and 5s). gRPC raises an interval
// under 10s to 10s; the server must permit pings this often.
func WithKeepalive(interval, timeout time.Duration) Option {
	return func(o *options) error {
		if interval <= 0 || timeout <= 0 {
			return invalid("keepalive interval %v, timeout %v", interval, timeout)
		}
		o.keepaliveTime, o.keepaliveTimeout = interval, timeout
		return nil
	}
}

// WithSessionPingInterval sets the interval of pings on the Session stream
// (default 5s).
func WithSessionPingInterval(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return invalid("session ping interval %v", d)
		}
		o.sessionPing = d
		return nil
	}
}

// WithConnectTimeout bounds the readiness check of each address in New
// and in a reconnect (default 5s); after it the client moves on to the next
// address.
func WithConnectTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return invalid("connect timeout %v", d)
		}
		o.connectTimeout = d
		return nil
	}
}

// WithReconnectBackoff sets the exponential backoff (defaults 50ms and 2s):
// the delay starts at minDelay and doubles up to maxDelay, and each wait is
// drawn at random from [d/2, d] (jitter). It paces full rounds over the
// addresses while reconnecting, retries of calls that a node answered with
// Unavailable, and the re-subscriptions of Consume.
func WithReconnectBackoff(minDelay, maxDelay time.Duration) Option {
	return func(o *options) error {
		if minDelay <= 0 || maxDelay < minDelay {
			return invalid("reconnect backoff min %v, max %v", minDelay, maxDelay)
		}
		o.backoffMin, o.backoffMax = minDelay, maxDelay
		return nil
	}
}

// WithConsumeHeartbeat sets the heartbeat interval of consume streams
// (default 500ms; 100ms to 1m, or 0 for none). The node serving a stream
// sends a heartbeat whenever it has sent nothing for that long, and a
// stream that hears nothing for ConsumeSilenceIntervals intervals (while
// its deliveries are being taken) ends with Unavailable, which Consume
// follows by subscribing again: a consumer whose node went silent (a paused
// process, a partition) moves after about 2 s instead of after the
// keepalive's 15 s. Each idle stream costs its node and the client one
// small message per interval: a shorter interval notices sooner and costs
// more, and an interval so short that a loaded node or client falls a
// silence limit behind ends healthy streams (on a shared 2-core machine,
// 1,000 idle streams on one node at 250ms, 4,000 heartbeats a second,
// did; 500ms held). 0 leaves it to keepalives. Nodes of an older version
// send no heartbeats, and their streams are not watched.
func WithConsumeHeartbeat(d time.Duration) Option {
	return func(o *options) error {
		if d != 0 && (d < 100*time.Millisecond || d > time.Minute) {
			return invalid("consume heartbeat %v: 0 (none) or 100ms to 1m", d)
		}
		o.consumeHeartbeat = d
		return nil
	}
}

// WithSessionHeartbeat sets the heartbeat interval of the session stream
// (default 500ms; 100ms to 1m, or 0 for none). The node the client is
// connected to sends a heartbeat on it whenever it has sent nothing for
// that long; when the session hears nothing for ConsumeSilenceIntervals
// intervals, the node went silent (a paused process, a host or network
// gone without a reset): the client gives up the connection and moves to
// its next address after about 2 s, where gRPC's keepalive would take
// 15 s. One small message per interval per client, whatever its number
// of streams. Nodes of an older version send no heartbeats, and their
// sessions are not watched.
func WithSessionHeartbeat(d time.Duration) Option {
	return func(o *options) error {
		if d != 0 && (d < 100*time.Millisecond || d > time.Minute) {
			return invalid("session heartbeat %v: 0 (none) or 100ms to 1m", d)
		}
		o.sessionHeartbeat = d
		return nil
	}
}

// WithoutDirectConsume makes consume streams always go through the node the
// client is connected to, which proxies them to the queue's leader. By
// default a stream subscribes at the leader itself when the connected node
// names it (with its gRPC address) and the leader can be dialled from here,
// which saves a hop per delivery and ack; use this option when the nodes'
// advertised gRPC addresses are not reachable from the client.
func WithoutDirectConsume() Option {
	return func(o *options) error {
		o.directConsume = false
		return nil
	}
}

// WithoutDirectPublish makes publishes always go to the node the client is
// connected to, which forwards them to the leaders of their queues' groups.
// By default, once an answer names the node that leads every group its
// messages went to, the next publishes go to that node on a direct
// connection (as consume streams do), which saves a hop, a gRPC call and a
// copy of every body; when that connection fails they go through the
// connected node again. Use this option when the nodes' advertised gRPC
// addresses are not reachable from the client.
func WithoutDirectPublish() Option {
	return func(o *options) error {
		o.directPublish = false
		return nil
	}
}

// WithStateChange sets a callback for the client's connection state: it is
// called with Connecting and then Connected (or Closed when New fails) from
// within New, then with Reconnecting and Connected around every failover,
// and finally with Closed from within Close. Calls are serial (never
// concurrent with each other) and in the order of the changes. The callback
// must return promptly and must not call Close; it may call other methods.
func WithStateChange(f func(State)) Option {
	return func(o *options) error {
		o.onState = f
		return nil
	}
}
