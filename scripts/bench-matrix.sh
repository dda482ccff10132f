#!/usr/bin/env bash
# bench-matrix.sh — issue 11's benchmark table, against a single node and a
# local 3-node cluster that the script starts (and stops) itself.
#
#   scripts/bench-matrix.sh [-- extra warren-node flags, e.g. --log-store bolt]
#
# Every node runs with --no-auth on 127.0.0.1, on fixed high ports (single
# node 26680–26684; cluster 26690–26694, 26700–26704, 26710–26714), with
# its data in a fresh temporary directory removed at the end. Scenarios (1 KiB
# bodies, confirms, manual acks; at most 1,000 unconfirmed per producer):
#
#   1p/1c prefetch 100      warren bench --producers 1 --consumers 1 --prefetch 100
#   1p/4c prefetch 1        warren bench --producers 1 --consumers 4 --prefetch 1
#   4p/4c prefetch 100      warren bench --producers 4 --consumers 4 --prefetch 100
#   1,000 msg/s             warren bench --rate 1000: confirm p50/p99, server CPU (all nodes)
#   idle RSS                each node's RSS after the runs and 5 s idle
#
# Then where a publish's time goes at 1,000 msg/s (from the nodes' /metrics)
# and what the machine allows each step of it (warren bench floor).
#
# Each scenario runs WARREN_BENCH_RUNS times (default 2) and the table shows
# the median (of 2: the mean of both). WARREN_BENCH_COUNT (default 100000)
# messages per throughput run, WARREN_BENCH_RATE_SECONDS (default 10) seconds
# at 1,000 msg/s. WARREN_BENCH_SETUPS="1 3" picks the setups. JSON reports go
# to WARREN_BENCH_OUT (default a temporary directory, printed).
#
# A benchmark is not a test: nothing here fails because a machine is slow.
# The script exits non-zero only when a node does not start or a run fails.
# Needs Go (it builds both binaries from this repository) and jq.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ "${1:-}" == "--" ]] && shift
node_flags=("$@")
runs="${WARREN_BENCH_RUNS:-2}"
count="${WARREN_BENCH_COUNT:-100000}"
rate_seconds="${WARREN_BENCH_RATE_SECONDS:-10}"
setups="${WARREN_BENCH_SETUPS:-1 3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/warren-bench.XXXXXX")"
out="${WARREN_BENCH_OUT:-$work/reports}"
mkdir -p "$out" "$work/bin"
pids=()

cleanup() {
	local pid i
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for ((i = 0; i < 300; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	done
	pids=()
	rm -rf "$work/data"
}
trap 'cleanup; rm -rf "$work/bin" "$work/data"' EXIT

go build -o "$work/bin/warren-node" ./cmd/node
go build -o "$work/bin/warren" ./cmd/warren
warren="$work/bin/warren"

# Without the WARREN_ variables of this shell: warren-node reads
# WARREN_<OPTION>, and the CLI's WARREN_SERVER/WARREN_USER must not leak in.
clean_env=()
for v in $(compgen -e); do
	[[ "$v" == WARREN_* ]] && clean_env+=(-u "$v")
done

# start_nodes N: starts N nodes (ports 26680+ for 1, 26690+ for 3), waits
# until each is ready (bounded: 60 s), and sets servers and metrics.
start_nodes() {
	local n="$1" base i p join="" ready
	local -a extra=()
	if [[ "$n" == 1 ]]; then base=26680; else base=26690; fi
	servers="" metrics=()
	if [[ "$n" -gt 1 ]]; then
		for ((i = 0; i < n; i++)); do join+="${join:+,}127.0.0.1:$((base + 10 * i + 2))"; done
		extra=(--join "$join" --bootstrap-expect "$n")
	fi
	for ((i = 0; i < n; i++)); do
		p=$((base + 10 * i))
		mkdir -p "$work/data/n$i"
		env "${clean_env[@]}" "$work/bin/warren-node" --no-auth --id "n$i" --zone "z$i" \
			--data-dir "$work/data/n$i" --grpc-addr "127.0.0.1:$p" --raft-addr "127.0.0.1:$((p + 1))" \
			--gossip-addr "127.0.0.1:$((p + 2))" --http-addr "127.0.0.1:$((p + 3))" --amqp-addr "127.0.0.1:$((p + 4))" \
			"${extra[@]}" "${node_flags[@]}" >"$work/n$n-$i.log" 2>&1 </dev/null &
		pids+=($!)
		servers+="${servers:+,}127.0.0.1:$p"
		metrics+=(--metrics-url "http://127.0.0.1:$((p + 3))/metrics")
	done
	for ((i = 0; i < n; i++)); do
		p=$((base + 10 * i + 3))
		ready=false
		for ((t = 0; t < 600; t++)); do
			if curl -fsS -o /dev/null "http://127.0.0.1:$p/readyz" 2>/dev/null; then
				ready=true
				break
			fi
			sleep 0.1
		done
		if ! $ready; then
			echo "node $i of $n not ready within 60 s; its log:" >&2
			tail -20 "$work/n$n-$i.log" >&2
			exit 1
		fi
	done
	# Let the cluster spread its queue-group leaders before measuring.
	[[ "$n" -gt 1 ]] && sleep 5
	return 0
}

# run NAME ARGS...: runs warren bench WARREN_BENCH_RUNS times, a report each.
run() {
	local name="$1" r
	shift
	for ((r = 1; r <= runs; r++)); do
		echo "  $name run $r: warren bench $*" >&2
		timeout 300 env "${clean_env[@]}" "$warren" --server "$servers" bench --json --duration 240s \
			--size 1024 "${metrics[@]}" "$@" >"$out/$setup-$name-$r.json"
	done
}

# scrape TAG: saves every node's /metrics as $work/metrics-TAG-<i>.
scrape() {
	local i=0 m
	rm -f "$work/metrics-$1-"*
	for m in "${metrics[@]}"; do
		[[ "$m" == --metrics-url ]] && continue
		curl -fsS "$m" >"$work/metrics-$1-$i"
		i=$((i + 1))
	done
}

# hist_mean METRIC: the mean, in ms, of histogram METRIC over every node
# and label set, between the scrapes "before" and "after" (Δsum / Δcount).
hist_mean() {
	awk -v m="$1" '
		FNR == 1 { sign = (FILENAME ~ /metrics-before-/) ? -1 : 1 }
		$1 ~ "^" m "_sum" { sum += sign * $2 }
		$1 ~ "^" m "_count" { n += sign * $2 }
		END { if (n > 0) printf "%.3f ms", 1000 * sum / n; else print "n/a" }
	' "$work"/metrics-before-* "$work"/metrics-after-*
}

# median SETUP NAME JQ: the median over the runs of JQ applied to each report.
median() {
	local f
	for f in "$out/$1-$2-"*.json; do jq -r "$3" "$f"; done |
		sort -g | awk '{v[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}

declare -A cell
for setup in $setups; do
	echo "== $setup node(s) ${node_flags[*]}" >&2
	start_nodes "$setup"
	run p1c1 --producers 1 --consumers 1 --prefetch 100 --count "$count" --batch 1000
	run p1c4 --producers 1 --consumers 4 --prefetch 1 --count "$((count / 4))" --batch 1000
	run p4c4 --producers 4 --consumers 4 --prefetch 100 --count "$count" --batch 1000
	scrape before
	run rate1k --producers 1 --consumers 1 --prefetch 100 --rate 1000 --count "$((1000 * rate_seconds))" --batch 1000
	scrape after
	cell[$setup, b_client]="$(median "$setup" rate1k '.confirm_latency.p50_ms') ms"
	cell[$setup, b_late]="$(median "$setup" rate1k '.pacing_lateness.p50_ms') ms"
	cell[$setup, b_publish]="$(hist_mean warren_publish_confirm_duration_seconds)"
	cell[$setup, b_commit]="$(hist_mean warren_raft_commit_duration_seconds)"
	cell[$setup, b_store]="$(hist_mean warren_raft_store_logs_duration_seconds)"
	cell[$setup, b_apply]="$(hist_mean warren_raft_fsm_apply_duration_seconds)"
	sleep 5
	rss=""
	for m in "${metrics[@]}"; do
		[[ "$m" == --metrics-url ]] && continue
		v="$(curl -fsS "$m" | awk '$1=="process_resident_memory_bytes" {printf "%.0f", $2/1048576}')"
		rss+="${rss:+ / }${v} MB"
	done
	cell[$setup, p1c1]="$(median "$setup" p1c1 '.consume_msgs_per_s' | xargs printf '%.0f')"
	cell[$setup, p1c4]="$(median "$setup" p1c4 '.consume_msgs_per_s' | xargs printf '%.0f')"
	cell[$setup, p4c4]="$(median "$setup" p4c4 '.consume_msgs_per_s' | xargs printf '%.0f')"
	cell[$setup, lat]="$(median "$setup" rate1k '.confirm_latency.p50_ms') / $(median "$setup" rate1k '.confirm_latency.p99_ms') ms"
	cell[$setup, cpu]="$(median "$setup" rate1k '[.servers[].cpu_cores] | add' | xargs printf '%.2f')"
	cell[$setup, rss]="$rss"
	cleanup
done

echo
echo "warren-node ${node_flags[*]:-(defaults)}; median of $runs run(s); reports in $out"
echo
header="| scenario |"
rule="|---|"
for setup in $setups; do
	header+=" Warren $setup node(s) |"
	rule+="---|"
done
echo "$header"
echo "$rule"
for row in "p1c1:msgs/s end to end, 1 producer, 1 consumer, prefetch 100" \
	"p1c4:msgs/s, 1 producer, 4 consumers with prefetch 1" \
	"p4c4:msgs/s, 4 producers, 4 consumers, prefetch 100" \
	"lat:confirm latency p50 / p99 at a steady 1,000 msg/s" \
	"cpu:server CPU at 1,000 msg/s (cores, all nodes)" \
	"rss:server RSS after the runs, 5 s idle (per node)"; do
	line="| ${row#*:} |"
	for setup in $setups; do line+=" ${cell[$setup, ${row%%:*}]} |"; done
	echo "$line"
done
echo
echo "Where a publish's time goes at 1,000 msg/s (the rate runs; server figures are means over every node and group, from /metrics):"
echo
echo "$header"
echo "$rule"
for row in "b_late:the load generator's timer, how late it woke for a publish (p50; not in the confirm)" \
	"b_client:confirm p50, the client's view (SDK, gRPC, node)" \
	"b_publish:the node's Publish call, arrival to answer (mean)" \
	"b_commit:Raft commit: leader's append to commit (mean)" \
	"b_store:one log write with its fsync, StoreLogs (mean, leader and followers)" \
	"b_apply:state machine apply of one entry (mean)"; do
	line="| ${row#*:} |"
	for setup in $setups; do line+=" ${cell[$setup, ${row%%:*}]} |"; done
	echo "$line"
done
echo
echo "What this machine allows a confirmed publish, each step alone at 1,000/s (warren bench floor, fdatasync on the nodes' disk):"
echo
"$warren" bench floor --duration 5s --dir "$work"
