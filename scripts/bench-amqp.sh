#!/usr/bin/env bash
# bench-amqp.sh — issue 13's comparison: the same load generator (warren
# bench; --amqp-url makes every client speak AMQP 0-9-1 with amqp091-go)
# against one Warren node over gRPC (the SDK) and over AMQP, alternating,
# then against RabbitMQ's quorum queues on the same machine when
# rabbitmq-server is installed (apt-get install rabbitmq-server; it is
# started with -detached and stopped at the end).
#
#   scripts/bench-amqp.sh
#
# Load: 1 KiB bodies, confirms with 1,000 in flight per producer, manual
# acks, prefetch 100; 1 producer and 1 consumer, WARREN_BENCH_COUNT
# (default 100000) messages; then the confirm latency of one publish at a
# time (--batch 1, 5,000 messages; the AMQP load generator has no --rate).
# WARREN_BENCH_RUNS (default 3) runs each, medians printed.
# Warren runs with --no-auth on 127.0.0.1 ports 26750–26754 in a fresh
# temporary directory. A benchmark, not a test: it fails only when a
# server does not start or a run fails.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${WARREN_BENCH_RUNS:-3}"
count="${WARREN_BENCH_COUNT:-100000}"
work="$(mktemp -d "${TMPDIR:-/tmp}/warren-bench-amqp.XXXXXX")"
pid="" rabbit=false
cleanup() {
	[[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	$rabbit && rabbitmqctl stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/bin"
go build -o "$work/bin/warren-node" ./cmd/node
go build -o "$work/bin/warren" ./cmd/warren
clean_env=()
for v in $(compgen -e); do [[ "$v" == WARREN_* ]] && clean_env+=(-u "$v"); done
env "${clean_env[@]}" "$work/bin/warren-node" --no-auth --id n0 --data-dir "$work/data" \
	--grpc-addr 127.0.0.1:26750 --raft-addr 127.0.0.1:26751 --gossip-addr 127.0.0.1:26752 \
	--http-addr 127.0.0.1:26753 --amqp-addr 127.0.0.1:26754 >"$work/node.log" 2>&1 </dev/null &
pid=$!
for ((t = 0; t < 600; t++)); do
	curl -fsS -o /dev/null http://127.0.0.1:26753/readyz 2>/dev/null && break
	sleep 0.1
done

# bench NAME ARGS...: one run, its JSON report in $work/NAME-<n>.json.
n=0
bench() {
	local name="$1"
	shift
	n=$((n + 1))
	timeout 300 env "${clean_env[@]}" "$work/bin/warren" --server 127.0.0.1:26750 bench --json --size 1024 \
		--duration 120s "$@" >"$work/$name-$n.json"
}
median() { # NAME JQ
	for f in "$work/$1"-*.json; do jq -r "$2" "$f"; done | sort -g |
		awk '{v[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}
for ((r = 1; r <= runs; r++)); do
	echo "run $r of $runs" >&2
	bench grpc-tput --producers 1 --consumers 1 --prefetch 100 --batch 1000 --count "$count"
	bench amqp-tput --amqp-url amqp://guest:guest@127.0.0.1:26754/ --producers 1 --consumers 1 --prefetch 100 --batch 1000 --count "$count"
	bench grpc-lat --producers 1 --consumers 1 --prefetch 100 --batch 1 --count 5000
	bench amqp-lat --amqp-url amqp://guest:guest@127.0.0.1:26754/ --producers 1 --consumers 1 --prefetch 100 --batch 1 --count 5000
done
kill -TERM "$pid" && wait "$pid" 2>/dev/null || true
pid=""
if command -v rabbitmq-server >/dev/null; then
	echo "RabbitMQ" >&2
	rabbitmq-server -detached >/dev/null 2>&1 && rabbit=true
	# await_startup fails at once until the node has registered: retry.
	for ((t = 0; t < 60; t++)); do
		rabbitmqctl await_startup --timeout 5 >/dev/null 2>&1 && break
		sleep 1
	done
	for ((r = 1; r <= runs; r++)); do
		bench rabbit-tput --amqp-url amqp://guest:guest@127.0.0.1:5672/ --producers 1 --consumers 1 --prefetch 100 --batch 1000 --count "$count"
		bench rabbit-lat --amqp-url amqp://guest:guest@127.0.0.1:5672/ --producers 1 --consumers 1 --prefetch 100 --batch 1 --count 5000
	done
fi
printf '%-10s %14s %22s %22s\n' "" "msgs/s 1p/1c" "confirm p50 ms (1 by 1)" "confirm p99 ms (1 by 1)"
for who in grpc amqp rabbit; do
	compgen -G "$work/$who-tput-*.json" >/dev/null || continue
	printf '%-10s %14.0f %22.3f %22.3f\n' "$who" "$(median "$who-tput" '.consume_msgs_per_s')" \
		"$(median "$who-lat" '.confirm_latency.p50_ms')" "$(median "$who-lat" '.confirm_latency.p99_ms')"
done
