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
	"github.com/warrenmq/warren/manage"
	"github.com/warrenmq/warren/observe"
	"github.com/warrenmq/warren/transport"
)

// startHTTP binds --http-addr and serves the observe endpoint on it, and
// the management API and UI (package manage) beside it, with the client
// API's TLS certificate and authentication; nil when the flag is "". The bound address is logged (port 0 picks one).
func startHTTP(f *flags, sec *security, b *broker.Broker, acc *transport.Access, guard *watermark.Monitor, clients func() observe.Clients, maxMessage int, logger hclog.Logger) (*observe.Server, error) {
	if f.httpAddr == "" {
		return nil, nil
	}
	mcfg := manage.Config{
		Broker: b, Watermarks: guard, UI: f.httpUI, SecureCookies: sec.httpTLS != nil, MaxMessageBytes: maxMessage,
		Logger: logger.Named("manage"),
	}
	cfg := observe.Config{
		Broker: b, Watermarks: guard, Clients: clients, PerQueueMetrics: f.perQueue,
		TLS: sec.httpTLS, Logger: logger.Named("http"),
	}
	if acc != nil {
		cfg.Authenticator, cfg.Authorizer = acc.Authenticator, acc.Authorizer
		mcfg.Authenticator, mcfg.Authorizer = acc.Authenticator, acc.Authorizer
	}
	mgmt, err := manage.New(mcfg)
	if err != nil {
		return nil, err
	}
	cfg.Management = mgmt
	web, err := observe.New(cfg)
	if err != nil {
		mgmt.Close()
		return nil, err
	}
	web.OnShutdown(mgmt.Close)
	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		return nil, fmt.Errorf("http listener: %w", err)
	}
	scheme := "http"
	if sec.httpTLS != nil {
		scheme = "https"
	}
	logger.Info("http endpoint", "http", ln.Addr().String(), "scheme", scheme, "auth", acc != nil, "per_queue_metrics", f.perQueue, "ui", f.httpUI)
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
