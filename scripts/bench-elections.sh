#!/usr/bin/env bash
# bench-elections.sh — issue 14's "no spurious leader changes": starts a local
# 3-node cluster, lets it spread its queue-group leaders, then runs warren
# bench at full closed-loop load (4 producers with 100 confirms in flight
# each, 4 consumers, 1 KiB, manual acks) for WARREN_ELECTIONS_DURATION
# (default 10m) and counts what no one caused: leader elections won
# ("entering leader state"), heartbeat timeouts and elections started, from
# the nodes' logs during the run.
#
#   scripts/bench-elections.sh [-- extra warren-node flags]
#
# Nodes run with --no-auth on 127.0.0.1, ports 26720–26744, data in a fresh
# temporary directory removed at the end (logs kept when WARREN_BENCH_KEEP=1).
# A benchmark, not a test: it prints counts and exits 0 unless a node fails
# to start or the run fails.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ "${1:-}" == "--" ]] && shift
node_flags=("$@")
duration="${WARREN_ELECTIONS_DURATION:-10m}"
work="$(mktemp -d "${TMPDIR:-/tmp}/warren-elections.XXXXXX")"
mkdir -p "$work/bin"
pids=()
cleanup() {
	local pid i
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do
		for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	done
	if [[ "${WARREN_BENCH_KEEP:-}" == 1 ]]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

go build -o "$work/bin/warren-node" ./cmd/node
go build -o "$work/bin/warren" ./cmd/warren
clean_env=()
for v in $(compgen -e); do [[ "$v" == WARREN_* ]] && clean_env+=(-u "$v"); done

base=26720 join="" servers=""
for ((i = 0; i < 3; i++)); do join+="${join:+,}127.0.0.1:$((base + 10 * i + 2))"; done
for ((i = 0; i < 3; i++)); do
	p=$((base + 10 * i))
	mkdir -p "$work/data/n$i"
	env "${clean_env[@]}" "$work/bin/warren-node" --no-auth --id "n$i" --zone "z$i" \
		--data-dir "$work/data/n$i" --grpc-addr "127.0.0.1:$p" --raft-addr "127.0.0.1:$((p + 1))" \
		--gossip-addr "127.0.0.1:$((p + 2))" --http-addr "127.0.0.1:$((p + 3))" --amqp-addr "127.0.0.1:$((p + 4))" \
		--join "$join" --bootstrap-expect 3 "${node_flags[@]}" >"$work/n$i.log" 2>&1 </dev/null &
	pids+=($!)
	servers+="${servers:+,}127.0.0.1:$p"
done
for ((i = 0; i < 3; i++)); do
	ready=false
	for ((t = 0; t < 600; t++)); do
		if curl -fsS -o /dev/null "http://127.0.0.1:$((base + 10 * i + 3))/readyz" 2>/dev/null; then ready=true; break; fi
		sleep 0.1
	done
	$ready || { echo "node $i not ready within 60 s:" >&2; tail -20 "$work/n$i.log" >&2; exit 1; }
done
# Leaders are spread on purpose after formation: wait until no node has
# logged a leadership change for 10 s (bounded: 120 s), then count from there.
changes() { cat "$work"/n?.log | grep -c "entering leader state" || true; }
last=$(changes) quiet=0
for ((t = 0; t < 120 && quiet < 10; t++)); do
	sleep 1
	now=$(changes)
	if [[ "$now" == "$last" ]]; then quiet=$((quiet + 1)); else quiet=0 last=$now; fi
done
for ((i = 0; i < 3; i++)); do wc -l <"$work/n$i.log" >"$work/n$i.from"; done

echo "3 nodes, full load for $duration: warren bench --producers 4 --consumers 4 --batch 100 --duration $duration" >&2
env "${clean_env[@]}" "$work/bin/warren" --server "$servers" bench --producers 4 --consumers 4 --batch 100 \
	--size 1024 --count 100000000 --duration "$duration" --drain-timeout 60s 2>&1 | tail -8 || true

count() { # PATTERN: matching lines logged since the run began, all nodes
	local i n=0 from
	for ((i = 0; i < 3; i++)); do
		from=$(cat "$work/n$i.from")
		n=$((n + $(tail -n +"$((from + 1))" "$work/n$i.log" | grep -c "$1" || true)))
	done
	echo "$n"
}
echo "during the run (all nodes, all groups):"
echo "  leaderships won (entering leader state): $(count 'entering leader state')"
echo "  heartbeat timeouts:                      $(count 'heartbeat timeout reached')"
echo "  elections started (entering candidate):  $(count 'entering candidate state')"
echo "  silence watch stood for election:        $(count 'standing for election now')"
