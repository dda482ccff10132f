package observe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/warrenmq/warren/access"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/internal/watermark"
)

// Config is what a Server reports on and how it is reached.
type Config struct {
	// Broker is the node. Required.
	Broker *broker.Broker
	// Authenticator and Authorizer check /metrics and /readyz callers;
	// nil (a node run with --no-auth) lets every caller in.
	Authenticator *access.Authenticator
	Authorizer    *access.Authorizer
	// Watermarks are the node's memory and disk alarms; nil: not exported.
	Watermarks *watermark.Monitor
	// Clients reports the client port's connections and streams; nil: not
	// exported.
	Clients func() Clients
	// PerQueueMetrics exports every queue's series (9 per queue, labelled
	// vhost and queue); without it only the node's totals are exported.
	PerQueueMetrics bool
	// TLS, when set, serves HTTPS with it.
	TLS *tls.Config
	// Logger logs the server's errors; nil discards.
	Logger hclog.Logger
	// Management, when set, answers every path the server does not serve
	// itself (the management API and UI, package manage, which checks its
	// own callers).
	Management http.Handler
}

// Clients are the client port's open connections and streams.
type Clients struct {
	// Connections open now, and refused past --max-connections since the
	// start.
	Connections, ConnectionsRefused int64
	// Sessions and ConsumeStreams open now (transport.Stats).
	Sessions, ConsumeStreams int64
}

// Server serves /metrics, /livez and /readyz. Safe for concurrent use.
type Server struct {
	cfg      Config
	logger   hclog.Logger
	registry *prometheus.Registry
	publish  prometheus.Histogram
	draining atomic.Bool
	http     *http.Server
}

// Timeouts of the HTTP server: a scrape of a node with 10,000 queues
// takes well under a second; slow clients do not hold connections.
const (
	readHeaderTimeout = 5 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
)

// New returns a Server for cfg; Serve starts it.
func New(cfg Config) (*Server, error) {
	if cfg.Broker == nil {
		return nil, errors.New("observe: no broker")
	}
	if (cfg.Authenticator == nil) != (cfg.Authorizer == nil) {
		return nil, errors.New("observe: Authenticator and Authorizer go together")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	s := &Server{cfg: cfg, logger: logger, registry: prometheus.NewRegistry()}
	s.publish = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "warren_publish_confirm_duration_seconds",
		Help:    "Time from a Publish call's arrival until its answer (every message confirmed, unroutable or rejected), on the node the publisher called.",
		Buckets: latencyBuckets,
	})
	err := errors.Join(
		s.registry.Register(collectors.NewGoCollector()),
		s.registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})),
		s.registry.Register(s.publish),
		s.registry.Register(newNodeCollector(&s.cfg)),
		s.registry.Register(newQueueCollector(cfg.Broker, cfg.PerQueueMetrics)),
		s.registry.Register(raftSink()),
	)
	if err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", s.livez)
	mux.Handle("GET /readyz", s.monitoring(http.HandlerFunc(s.readyz)))
	mux.Handle("GET /metrics", s.monitoring(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		ErrorLog: logger.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}),
		Registry: s.registry, // promhttp_metric_handler_errors_total
	})))
	if cfg.Management != nil {
		mux.Handle("/", cfg.Management)
	}
	s.http = &http.Server{
		Handler: mux, ReadHeaderTimeout: readHeaderTimeout, WriteTimeout: writeTimeout, IdleTimeout: idleTimeout,
		ErrorLog: logger.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
	return s, nil
}

// Handler is the server's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.http.Handler }

// Gatherer is the registry /metrics serves.
func (s *Server) Gatherer() prometheus.Gatherer { return s.registry }

// Serve serves on ln (with TLS when Config.TLS is set) until Shutdown; it
// returns http.ErrServerClosed then.
func (s *Server) Serve(ln net.Listener) error {
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	return s.http.Serve(ln)
}

// Drain makes /readyz answer 503 "shutting down": the node is handing
// off its leaderships and will stop.
func (s *Server) Drain() { s.draining.Store(true) }

// Shutdown stops serving, waiting for requests in progress until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

// OnShutdown runs f when Shutdown is called (to stop what serves beside
// the endpoint).
func (s *Server) OnShutdown(f func()) { s.http.RegisterOnShutdown(f) }

// PublishAnswered records a Publish call's confirm latency
// (transport.Observer).
func (s *Server) PublishAnswered(d time.Duration, _ int) { s.publish.Observe(d.Seconds()) }

func (s *Server) livez(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = fmt.Fprintln(w, "ok")
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	err := s.cfg.Broker.Node().Ready()
	if s.draining.Load() {
		err = errors.New("shutting down: handing off leaderships")
	}
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	_, _ = fmt.Fprintln(w, "ready")
}

// monitoring lets through callers with the monitoring or administrator
// tag (or everyone, without an Authenticator).
func (s *Server) monitoring(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Authenticator == nil {
			next.ServeHTTP(w, r)
			return
		}
		u, err := s.cfg.Authenticator.Authenticate(r.Context(), access.HTTPCredentials(r))
		if err == nil {
			err = s.cfg.Authorizer.Authorize(u, "/", access.Tag(access.TagMonitoring))
		}
		switch {
		case err == nil:
			next.ServeHTTP(w, r)
			return
		case errors.Is(err, access.ErrThrottled):
			w.Header().Set("Retry-After", "1")
			http.Error(w, err.Error(), http.StatusTooManyRequests)
		case errors.Is(err, access.ErrNotReady):
			w.Header().Set("Retry-After", "1")
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		case errors.Is(err, access.ErrUnauthenticated):
			w.Header().Set("WWW-Authenticate", `Basic realm="warren", charset="UTF-8"`)
			http.Error(w, err.Error(), http.StatusUnauthorized)
		case errors.Is(err, access.ErrDenied):
			http.Error(w, err.Error(), http.StatusForbidden)
		default:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}
