package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/internal/watermark"
	"github.com/warrenmq/warren/observe"
	"github.com/warrenmq/warren/transport"
)

// startHTTP binds --http-addr and serves the observe endpoint on it, with
// the client API's TLS certificate and authentication; nil when the flag
// is "". The bound address is logged (port 0 picks one).
func startHTTP(f *flags, sec *security, b *broker.Broker, acc *transport.Access, guard *watermark.Monitor, clients func() observe.Clients, logger hclog.Logger) (*observe.Server, error) {
	if f.httpAddr == "" {
		return nil, nil
	}
	cfg := observe.Config{
		Broker: b, Watermarks: guard, Clients: clients, PerQueueMetrics: f.perQueue,
		TLS: sec.httpTLS, Logger: logger.Named("http"),
	}
	if acc != nil {
		cfg.Authenticator, cfg.Authorizer = acc.Authenticator, acc.Authorizer
	}
	web, err := observe.New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		return nil, fmt.Errorf("http listener: %w", err)
	}
	scheme := "http"
	if sec.httpTLS != nil {
		scheme = "https"
	}
	logger.Info("http endpoint", "http", ln.Addr().String(), "scheme", scheme, "auth", acc != nil, "per_queue_metrics", f.perQueue)
	go func() {
		if err := web.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http endpoint failed", "error", err)
		}
	}()
	return web, nil
}

// stopHTTP ends the endpoint, letting a scrape in progress finish.
func stopHTTP(web *observe.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = web.Shutdown(ctx)
}
