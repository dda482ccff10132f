#!/usr/bin/env bash
# local-cluster.sh start|stop|status — a 3-node Warren cluster on loopback.
#
#   node   zone  gRPC   Raft   gossip  HTTP (/metrics, /livez, /readyz)
#   node-a a     5680   5681   5682    5683
#   node-b b     5690   5691   5692    5693
#   node-c c     5700   5701   5702    5703
#
# Data, logs and pid files live under ./local-cluster/<node>/ (relative to
# the directory you run the script from; override with WARREN_LOCAL_DIR).
# The binary is built from this repository into ./local-cluster/bin unless
# WARREN_NODE names one. stop signals only the pids this script recorded,
# and only while they still run warren-node.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${WARREN_LOCAL_DIR:-./local-cluster}"
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
nodes=(a b c)
join="127.0.0.1:5682,127.0.0.1:5692,127.0.0.1:5702"

base_port() { # node letter -> first port of its three
	case "$1" in a) echo 5680 ;; b) echo 5690 ;; c) echo 5700 ;; esac
}

# running PIDFILE: prints the pid and succeeds when it is a live warren-node.
running() {
	local pid
	[[ -f "$1" ]] || return 1
	pid="$(cat "$1")"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	if [[ -r "/proc/$pid/cmdline" ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q warren-node; then
		return 1 # the pid was reused by another program
	fi
	echo "$pid"
}

binary() {
	if [[ -n "${WARREN_NODE:-}" ]]; then
		echo "$WARREN_NODE"
		return
	fi
	mkdir -p "$dir/bin"
	(cd "$repo" && go build -o "$dir/bin/warren-node" ./cmd/node) >&2
	echo "$dir/bin/warren-node"
}

# Every WARREN_ variable of this shell, as env(1) arguments that unset it:
# warren-node reads WARREN_<OPTION> as its options (WARREN_TLS_CERT of the
# warren CLI would give the nodes a certificate), so the nodes here get
# only the flags below.
unset_warren_vars() {
	local v
	for v in $(compgen -e); do
		if [[ "$v" == WARREN_* ]]; then
			printf -- '-u\n%s\n' "$v"
		fi
	done
}

start() {
	local bin n p pidfile
	local -a unset_args
	bin="$(binary)"
	mapfile -t unset_args < <(unset_warren_vars)
	for n in "${nodes[@]}"; do
		p="$(base_port "$n")"
		mkdir -p "$dir/node-$n"
		pidfile="$dir/node-$n/pid"
		if pid="$(running "$pidfile")"; then
			echo "node-$n already running (pid $pid)"
			continue
		fi
		echo "=== start $(date -u +%FT%TZ)" >>"$dir/node-$n/node.log"
		nohup env "${unset_args[@]}" "$bin" \
			--id "node-$n" --zone "$n" \
			--data-dir "$dir/node-$n/data" \
			--grpc-addr "127.0.0.1:$p" \
			--raft-addr "127.0.0.1:$((p + 1))" \
			--gossip-addr "127.0.0.1:$((p + 2))" \
			--http-addr "127.0.0.1:$((p + 3))" \
			--amqp-addr "127.0.0.1:$((p + 4))" \
			--join "$join" --bootstrap-expect 3 \
			>>"$dir/node-$n/node.log" 2>&1 </dev/null &
		echo $! >"$pidfile"
		echo "node-$n started (pid $!, gRPC 127.0.0.1:$p, HTTP 127.0.0.1:$((p + 3)), AMQP 127.0.0.1:$((p + 4)), log $dir/node-$n/node.log)"
	done
	echo "clients: warren --server 127.0.0.1:5680,127.0.0.1:5690,127.0.0.1:5700 …"
}

stop() {
	local n pidfile pid i
	for n in "${nodes[@]}"; do
		pidfile="$dir/node-$n/pid"
		if ! pid="$(running "$pidfile")"; then
			echo "node-$n not running"
			rm -f "$pidfile"
			continue
		fi
		kill -TERM "$pid"
		# running, not kill -0: an exited child that nobody has reaped yet
		# still answers kill -0.
		for ((i = 0; i < 150; i++)); do
			running "$pidfile" >/dev/null || break
			sleep 0.1
		done
		if running "$pidfile" >/dev/null; then
			echo "node-$n (pid $pid) still running after 15s; left alone" >&2
			continue
		fi
		rm -f "$pidfile"
		echo "node-$n stopped"
	done
}

status() {
	local n pidfile pid
	for n in "${nodes[@]}"; do
		pidfile="$dir/node-$n/pid"
		if pid="$(running "$pidfile")"; then
			# "ready" since the last start marker
			if awk '/^=== start/ { r = 0 } /warren-node ready/ { r = 1 } END { exit !r }' "$dir/node-$n/node.log"; then
				echo "node-$n running (pid $pid), ready, gRPC 127.0.0.1:$(base_port "$n")"
			else
				echo "node-$n running (pid $pid), not ready yet"
			fi
		else
			echo "node-$n stopped"
		fi
	done
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*)
	echo "usage: $0 start|stop|status" >&2
	exit 2
	;;
esac
