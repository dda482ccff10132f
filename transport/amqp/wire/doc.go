// Package wire reads and writes AMQP 0-9-1 frames: the protocol header,
// frames with their bounds (frame-max checked before allocation, the end
// octet), every method of the connection, channel, exchange, queue, basic,
// confirm and tx classes, content headers with the 13 basic properties,
// and field tables with RabbitMQ's value types. It knows nothing of the
// broker; the server (package amqp) gives meaning to what it decodes.
package wire
