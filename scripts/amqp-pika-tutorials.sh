#!/usr/bin/env bash
# Runs RabbitMQ's six Python tutorials (hello world, work queues,
# publish/subscribe, routing, topics, RPC), written with pika as the
# tutorials write them, against a fresh single Warren node over AMQP 0-9-1.
#
#   apt-get install python3-pika     # once
#   scripts/amqp-pika-tutorials.sh   # from the repository root; prints PASS
#
# The node runs on OS-picked loopback ports in a temporary directory and is
# stopped at the end; its log is printed when something fails.
set -euo pipefail
cd "$(dirname "$0")/.."

py=python3
for p in /usr/bin/python3 python3; do
	if "$p" -c 'import pika' 2>/dev/null; then py=$p; break; fi
done
"$py" -c 'import pika' || { echo "pika is missing: apt-get install python3-pika" >&2; exit 1; }

tmp="$(mktemp -d)"
node=""
cleanup() {
	if [ -n "$node" ]; then kill "$node" 2>/dev/null || true; wait "$node" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/warren-node" ./cmd/node
port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$tmp/warren-node" --data-dir "$tmp/data" --grpc-addr 127.0.0.1:0 --raft-addr 127.0.0.1:0 \
	--gossip-addr 127.0.0.1:0 --http-addr "" --amqp-addr "127.0.0.1:$port" 2>"$tmp/node.log" &
node=$!

# The AMQP port listens once the node is ready.
for _ in $(seq 1 300); do
	if "$py" -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then break; fi
	if ! kill -0 "$node" 2>/dev/null; then cat "$tmp/node.log" >&2; exit 1; fi
	sleep 0.1
done

if ! WARREN_AMQP_PORT="$port" timeout 120 "$py" - <<'PY'; then
import os, threading, uuid
import pika

params = pika.ConnectionParameters("127.0.0.1", int(os.environ["WARREN_AMQP_PORT"]), "/",
                                   pika.PlainCredentials("guest", "guest"))

def conn():
    return pika.BlockingConnection(params)

def drain(ch, queue, n, ack=True):
    """Takes n messages from queue with basic.consume, as the tutorials' workers do."""
    got = []
    for method, props, body in ch.consume(queue, auto_ack=not ack, inactivity_timeout=10):
        assert method is not None, f"only {len(got)} of {n} messages from {queue}"
        got.append((method, props, body))
        if ack:
            ch.basic_ack(method.delivery_tag)
        if len(got) == n:
            break
    ch.cancel()
    return got

# 1. Hello World
c = conn(); ch = c.channel()
ch.queue_declare(queue="hello")
ch.basic_publish(exchange="", routing_key="hello", body=b"Hello World!")
assert [b for _, _, b in drain(ch, "hello", 1, ack=False)] == [b"Hello World!"]
c.close()

# 2. Work queues: durable queue, persistent messages, prefetch 1, manual acks.
c = conn(); ch = c.channel()
ch.queue_declare(queue="task_queue", durable=True)
ch.confirm_delivery()
for i in range(4):
    ch.basic_publish("", "task_queue", f"task {i}".encode(),
                     properties=pika.BasicProperties(delivery_mode=2))
ch.basic_qos(prefetch_count=1)
assert sorted(b for _, _, b in drain(ch, "task_queue", 4)) == [f"task {i}".encode() for i in range(4)]
c.close()

# 3. Publish/Subscribe: fanout to two exclusive server-named queues.
c = conn(); ch = c.channel()
ch.exchange_declare(exchange="logs", exchange_type="fanout")
queues = []
for _ in range(2):
    q = ch.queue_declare(queue="", exclusive=True).method.queue
    assert q.startswith("amq.gen-"), q
    ch.queue_bind(exchange="logs", queue=q)
    queues.append(q)
ch.basic_publish(exchange="logs", routing_key="", body=b"info: hi")
for q in queues:
    assert [b for _, _, b in drain(ch, q, 1)] == [b"info: hi"]
c.close()

# 4. Routing (direct) and 5. Topics.
c = conn(); ch = c.channel()
ch.exchange_declare(exchange="direct_logs", exchange_type="direct")
ch.exchange_declare(exchange="topic_logs", exchange_type="topic")
qd = ch.queue_declare(queue="", exclusive=True).method.queue
qt = ch.queue_declare(queue="", exclusive=True).method.queue
for sev in ("error", "warning"):
    ch.queue_bind(exchange="direct_logs", queue=qd, routing_key=sev)
for key in ("kern.*", "*.critical"):
    ch.queue_bind(exchange="topic_logs", queue=qt, routing_key=key)
ch.confirm_delivery()
for sev in ("info", "error"):
    ch.basic_publish("direct_logs", sev, sev.encode())
for key in ("kern.critical", "user.info", "app.critical"):
    ch.basic_publish("topic_logs", key, key.encode())
assert [b for _, _, b in drain(ch, qd, 1)] == [b"error"]
assert [b for _, _, b in drain(ch, qt, 2)] == [b"kern.critical", b"app.critical"]
c.close()

# 6. RPC: a server thread answers fib(n) to reply_to with the correlation id.
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

ready = threading.Event()
def rpc_server():
    c = conn(); ch = c.channel()
    ch.queue_declare(queue="rpc_queue")
    ch.basic_qos(prefetch_count=1)
    ready.set()
    for method, props, body in ch.consume("rpc_queue", inactivity_timeout=15):
        if method is None:
            break
        ch.basic_publish("", props.reply_to, str(fib(int(body))).encode(),
                         properties=pika.BasicProperties(correlation_id=props.correlation_id))
        ch.basic_ack(method.delivery_tag)
        break
    c.close()
t = threading.Thread(target=rpc_server); t.start(); ready.wait(10)
c = conn(); ch = c.channel()
callback = ch.queue_declare(queue="", exclusive=True).method.queue
corr = str(uuid.uuid4())
ch.basic_publish("", "rpc_queue", b"10", properties=pika.BasicProperties(reply_to=callback, correlation_id=corr))
(_, props, body), = drain(ch, callback, 1)
assert props.correlation_id == corr and body == b"55", (props.correlation_id, body)
c.close(); t.join(15)
print("PASS: the six RabbitMQ tutorials with pika")
PY
	echo "FAIL; node log:" >&2
	cat "$tmp/node.log" >&2
	exit 1
fi
