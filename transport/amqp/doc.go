// Package amqp serves AMQP 0-9-1 on the broker: existing RabbitMQ clients
// (amqp091-go, pika, the Java client, …) talk to Warren unchanged. It is a
// second port beside the gRPC transport, with the same semantics because
// both call the same broker methods: a connection is a broker session, a
// consumer a broker consumer, a publish a broker publish. What is
// supported and refused: README "AMQP 0-9-1"; why it is shaped this way:
// DESIGN.md.
package amqp
