#!/usr/bin/env bash
# bench-restart.sh — a backlog larger than memory across a restart (issue 11):
# one node with bodies on disk takes WARREN_BACKLOG_MIB MiB (default 10240) of
# 64 KiB messages into one queue, is killed (SIGKILL) and started again, and
# the script reports:
#
#   publish      the backlog's publish rate, and the node's RSS after it
#   restart      from the start of the process to /readyz answering, and
#                to the first message of the backlog delivered
#   after        the node's RSS once the first message was delivered, and
#                the data directory's size
#   drain        the rate at which WARREN_DRAIN_COUNT (default 20000)
#                messages of the backlog are consumed after the restart
#
# The node runs with --no-auth on 127.0.0.1, ports 26720–26724, its data in
# a fresh temporary directory (WARREN_BENCH_DIR to put it elsewhere; it
# needs the backlog's size free) removed at the end. --memory-high-watermark
# is WARREN_WATERMARK (default 2GiB): the backlog is many times that.
#
# A benchmark, not a test: nothing fails because a machine is slow; it exits
# non-zero only when the node does not start or a step fails. Needs Go and jq.
set -euo pipefail
cd "$(dirname "$0")/.."

mib="${WARREN_BACKLOG_MIB:-10240}"
watermark="${WARREN_WATERMARK:-2GiB}"
drain="${WARREN_DRAIN_COUNT:-20000}"
size=65536
count=$((mib * 16))
work="$(mktemp -d "${WARREN_BENCH_DIR:-${TMPDIR:-/tmp}}/warren-restart.XXXXXX")"
pid=""

cleanup() {
	if [[ -n "$pid" ]]; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/warren-node" ./cmd/node
go build -o "$work/warren" ./cmd/warren
clean_env=()
for v in $(compgen -e); do
	[[ "$v" == WARREN_* ]] && clean_env+=(-u "$v")
done
warren=(env "${clean_env[@]}" "$work/warren" --server 127.0.0.1:26720)

# start: starts the node and sets pid and started (ns since the epoch).
start() {
	started=$(date +%s%N)
	env "${clean_env[@]}" "$work/warren-node" --no-auth --id n0 --data-dir "$work/data" \
		--grpc-addr 127.0.0.1:26720 --raft-addr 127.0.0.1:26721 --gossip-addr 127.0.0.1:26722 \
		--http-addr 127.0.0.1:26723 --amqp-addr 127.0.0.1:26724 \
		--memory-high-watermark "$watermark" >>"$work/node.log" 2>&1 </dev/null &
	pid=$!
}

# wait_ready: waits (at most 10 minutes) for /readyz; prints the seconds
# since start.
wait_ready() {
	local t
	for ((t = 0; t < 6000; t++)); do
		if curl -fsS -o /dev/null http://127.0.0.1:26723/readyz 2>/dev/null; then
			echo "scale=2; ($(date +%s%N) - $started) / 1000000000" | bc
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "the node did not get ready; its log:" >&2
	tail -20 "$work/node.log" >&2
	exit 1
}

rss_mib() { echo $(($(awk '/VmRSS/ {print $2}' "/proc/$pid/status") / 1024)); }

start
wait_ready >/dev/null
"${warren[@]}" queue declare backlog >/dev/null
echo "publishing $mib MiB: $count messages of $size bytes" >&2
"${warren[@]}" bench --json --queue backlog --producers 2 --consumers 0 --batch 64 \
	--size "$size" --count "$count" --drain-timeout 1s >"$work/publish.json"
publish_rate=$(jq -r '.publish_msgs_per_s | floor' "$work/publish.json")
rss_full=$(rss_mib)

kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
echo "killed; starting again" >&2
start
ready=$(wait_ready)
"${warren[@]}" consume backlog --count 1 >/dev/null
first=$(echo "scale=2; ($(date +%s%N) - $started) / 1000000000" | bc)
rss_after=$(rss_mib)
disk=$(du -sm "$work/data" | cut -f1)
t0=$(date +%s%N)
"${warren[@]}" consume backlog --count "$drain" --prefetch 100 >/dev/null
drain_rate=$(echo "$drain * 1000000000 / ($(date +%s%N) - $t0)" | bc)

echo
echo "| backlog | publish msg/s | RSS after publish | restart → ready | restart → first delivery | RSS after restart | data on disk | drain msg/s |"
echo "|---|---|---|---|---|---|---|---|"
echo "| $mib MiB ($count × 64 KiB), watermark $watermark | ${publish_rate:-?} | ${rss_full} MiB | ${ready} s | ${first} s | ${rss_after} MiB | ${disk} MiB | ${drain_rate:-?} |"
