#!/usr/bin/env bash
# node-config.sh — print the /etc/warren/node.toml of one Warren node.
#
#   deploy/node-config.sh --id node-a --zone a --ip 10.0.1.10 \
#       --join 10.0.1.10,10.0.2.10,10.0.3.10 --bootstrap-expect 3 \
#       --bootstrap-user alice > node-a.toml
#
# --id ID              the node's id, stable for its life (certificates name it)
# --zone ZONE          its availability zone
# --ip IP              the address of this host that the other nodes and the
#                      clients dial (not 0.0.0.0: peers dial what it gossips)
# --join IP,IP,…       the founding nodes' addresses (host or host:port; port
#                      5682 when absent)
# --bootstrap-expect N on the N founding nodes of a new cluster; leave it out
#                      for a node that joins a running one (it never bootstraps)
# --bootstrap-user U   the first administrator, on founding nodes; its
#                      password is read from ETC/U.password
# --data-dir DIR       default /var/lib/warren (the systemd unit's StateDirectory)
# --etc-dir DIR        default /etc/warren; certificates and the gossip key are
#                      read from ETC/tls (README "TLS certificates")
#
# deploy/examples/generate.sh makes the examples of deploy/examples with it,
# and the e2e test TestDeployOnHosts the configs of its hosts.
set -euo pipefail

id="" zone="" ip="" join="" expect="" user="" data="/var/lib/warren" etc="/etc/warren"
usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
}
while (($#)); do
	case "$1" in
	--id) id="$2" ;;
	--zone) zone="$2" ;;
	--ip) ip="$2" ;;
	--join) join="$2" ;;
	--bootstrap-expect) expect="$2" ;;
	--bootstrap-user) user="$2" ;;
	--data-dir) data="$2" ;;
	--etc-dir) etc="$2" ;;
	-h | --help) usage ;;
	*)
		echo "node-config.sh: unknown option $1" >&2
		usage
		;;
	esac
	shift 2 || usage
done
if [[ -z "$id" || -z "$zone" || -z "$ip" || -z "$join" ]]; then
	echo "node-config.sh: --id, --zone, --ip and --join are required" >&2
	usage
fi
if [[ -n "$user" && -z "$expect" ]]; then
	echo "node-config.sh: --bootstrap-user goes with --bootstrap-expect (founding nodes only)" >&2
	exit 2
fi
# An IPv6 address goes in brackets before a port.
hostport() { if [[ "$1" == *:*:* && "$1" != \[* ]]; then echo "[$1]:$2"; else echo "$1:$2"; fi; }
peers=""
IFS=',' read -ra hosts <<<"$join"
for h in "${hosts[@]}"; do
	if [[ "$h" == *:* && "$h" != *:*:* || "$h" == \[*\]:* ]]; then
		addr="$h" # host:port already
	else
		addr="$(hostport "$h" 5682)"
	fi
	peers+="${peers:+, }\"$addr\""
done

cat <<TOML
# /etc/warren/node.toml of $id (zone $zone, $ip): made by deploy/node-config.sh.
# warren-node --config reads it (deploy/systemd/warren-node.service). Every key
# is a warren-node option, named as its flag without the dashes
# (warren-node --help); a flag or a WARREN_* variable wins over the file, and a
# key warren-node does not know stops it from starting.

id = "$id"
zone = "$zone"
data-dir = "$data"

# This host's own addresses, not 0.0.0.0: peers dial what a node gossips.
# Open TCP 5680-5682 and UDP 5682 between the nodes, TCP 5680 to clients and
# TCP 5683 to Prometheus.
grpc-addr = "$(hostport "$ip" 5680)"   # clients: BrokerService, AccessService, health
raft-addr = "$(hostport "$ip" 5681)"   # every Raft group and the node-to-node API
gossip-addr = "$(hostport "$ip" 5682)" # memberlist, TCP and UDP
http-addr = "$(hostport "$ip" 5683)"   # /metrics, /readyz, /livez

TOML
if [[ -n "$expect" ]]; then
	cat <<TOML
# A new cluster: the $expect founding nodes list each other and wait until all
# $expect are up (within ready-timeout, 1m; systemd restarts the early ones).
join = [$peers]
bootstrap-expect = $expect

TOML
else
	cat <<TOML
# Joins the running cluster of these nodes, and never bootstraps: each Raft
# group's leader adds it (a voter while a group has fewer than 5).
join = [$peers]

TOML
fi
cat <<TOML
# TLS on the client API and the HTTP endpoint, client certificates of the CA
# required (a client certificate logs its user in), mutual TLS between nodes,
# encrypted gossip (README "TLS certificates"):
#   warren tls cert create --ca-dir tls --out-dir tls --node $id --ip $ip
tls-cert = "$etc/tls/$id.pem"
tls-key = "$etc/tls/$id-key.pem"
tls-client-ca = "$etc/tls/warren-ca.pem"
cluster-ca = "$etc/tls/warren-ca.pem"
cluster-cert = "$etc/tls/$id.pem"
cluster-key = "$etc/tls/$id-key.pem"
gossip-key-file = "$etc/tls/gossip.key"
TOML
if [[ -n "$user" ]]; then
	cat <<TOML

# The first administrator of the new cluster, instead of guest/guest (which is
# admitted from loopback only); a cluster that has users ignores these.
bootstrap-user = "$user"
bootstrap-password-file = "$etc/$user.password"
TOML
fi
cat <<TOML

# Limits (README "Limits"): uncomment to change a default.
# max-message-bytes = "4MiB"
# memory-high-watermark = "4GiB"          # default: 40 % of RAM or the cgroup limit
# disk-free-low-watermark = "256MiB"
# remove-dead-after = "0s"                # 0: remove dead nodes by hand (warren cluster remove-node)
# log-format = "json"                     # default text
TOML
