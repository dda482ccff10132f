#!/usr/bin/env bash
# generate.sh [DIR] — (re)write the example configs of this directory, or of
# DIR, with ../node-config.sh; a test (cmd/node TestDeployExamples) checks
# that the committed files are its output.
#
#   3-zone/node-a.toml … node-c.toml  the founding nodes of a 3-zone cluster:
#                                     zones a, b, c on 10.0.1.10, 10.0.2.10, 10.0.3.10
#   3-zone/node-d.toml                a node added later, or a replacement
#                                     (zone a, 10.0.1.11): it only joins
#   5-zone/node-a.toml … node-e.toml  a 5-zone cluster on 10.0.1.10 … 10.0.5.10
#
# Edit the addresses here (or run node-config.sh yourself) for your hosts.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here}"
gen="$here/../node-config.sh"
mkdir -p "$out/3-zone" "$out/5-zone"

three="10.0.1.10,10.0.2.10,10.0.3.10"
i=1
for z in a b c; do
	"$gen" --id "node-$z" --zone "$z" --ip "10.0.$i.10" --join "$three" \
		--bootstrap-expect 3 --bootstrap-user alice >"$out/3-zone/node-$z.toml"
	i=$((i + 1))
done
"$gen" --id node-d --zone a --ip 10.0.1.11 --join "$three" >"$out/3-zone/node-d.toml"

five="10.0.1.10,10.0.2.10,10.0.3.10,10.0.4.10,10.0.5.10"
i=1
for z in a b c d e; do
	"$gen" --id "node-$z" --zone "$z" --ip "10.0.$i.10" --join "$five" \
		--bootstrap-expect 5 --bootstrap-user alice >"$out/5-zone/node-$z.toml"
	i=$((i + 1))
done
