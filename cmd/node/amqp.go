package main

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/hashicorp/go-hclog"
	"github.com/warrenmq/warren/broker"
	"github.com/warrenmq/warren/internal/version"
	"github.com/warrenmq/warren/internal/watermark"
	"github.com/warrenmq/warren/transport"
	"github.com/warrenmq/warren/transport/amqp"
)

// startAMQP serves AMQP 0-9-1 on --amqp-addr and, over TLS, on
// --amqps-addr, with the client API's logins and permissions; nil when
// both are off.
func startAMQP(f *flags, sec *security, b *broker.Broker, acc *transport.Access, guard *watermark.Monitor, logger hclog.Logger) (*amqp.Server, error) {
	if f.amqpAddr == "" && f.amqpsAddr == "" {
		return nil, nil
	}
	cfg := amqp.Config{
		Broker: b, Logger: logger.Named("amqp"), MaxMessageBytes: int(f.maxMsg), Version: version.Get().Short(),
		Resources: guard.Check, MaxConsumers: f.caps.MaxConsumersPerSession,
	}
	if acc != nil {
		cfg.Authenticator, cfg.Authorizer = acc.Authenticator, acc.Authorizer
	}
	srv := amqp.NewServer(cfg)
	listen := func(addr string, tlsConf *tls.Config, name string) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			// 5672 is often a RabbitMQ's already: say how to move aside.
			return fmt.Errorf("%s listener: %w (choose another port with --%s-addr, or turn the AMQP port off with --%s-addr \"\")", name, err, name, name)
		}
		// The client port's connection cap applies to each AMQP port too.
		ln = transport.LimitConnections(ln, f.caps.MaxConnections, logger.Named(name))
		if tlsConf != nil {
			ln = tls.NewListener(ln, tlsConf)
		}
		logger.Info(name+" listening", "addr", ln.Addr().String())
		go func() {
			if err := srv.Serve(ln); err != nil {
				logger.Error(name+" listener failed", "error", err)
			}
		}()
		return nil
	}
	if f.amqpAddr != "" {
		if err := listen(f.amqpAddr, nil, "amqp"); err != nil {
			return nil, err
		}
	}
	if f.amqpsAddr != "" {
		if err := listen(f.amqpsAddr, sec.httpTLS, "amqps"); err != nil {
			srv.Close(0)
			return nil, err
		}
	}
	return srv, nil
}
