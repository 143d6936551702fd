#!/usr/bin/env bash
# Does a resumed persistent session get the message published while it was
# away? (docs/province.md, "What happens when a node is lost", the open
# question.) A 3-node cluster with rights; RUNS times: a session made with
# `mosquitto_sub -c -E` as a ward IOC user on node a, one QoS 1 message
# published as the gateway on node b, the session resumed AWAY s later on
# node c (or a with --same) with `-C 1`. Prints each run and "lost L of N";
# exits 1 when a message was lost.
#
# Usage: province-resume.sh [--runs 15] [--away 10] [--same] [--base-port 24400] [DIR]
# (ports below the ephemeral range, 32768+, where outgoing connections take theirs)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
runs=15 away=10 same=0 base=24400 dir=""
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--away) away=$2; shift 2 ;;
	--same) same=1; shift ;;
	--base-port) base=$2; shift 2 ;;
	-*) echo "province-resume: unknown option $1" >&2; exit 2 ;;
	*) dir=$1; shift ;;
	esac
done
for v in "$runs" "$away" "$base"; do
	printf '%s' "$v" | grep -Eq '^[0-9]+$' || { echo "province-resume: not a number: '$v'" >&2; exit 2; }
done
[ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/province-resume.XXXXXX")
mkdir -p "$dir"
trap '"$HERE/province-cluster.sh" stop "$dir/c" > /dev/null 2>&1' EXIT
printf 'gw-a gw-a-secret-0123456 gw-a-ioc-secret-012\n' > "$dir/gateways"
"$HERE/province-cluster.sh" start "$dir/c" --base-port "$base" --gateways "$dir/gateways" --cost 6 || exit 1
. "$dir/c/cluster.env"
set -- $MQTT_PORTS
lost=0 n=0
for k in $(seq 1 "$runs"); do
	a=$((k % 3 + 1)) b=$(((k + 1) % 3 + 1)) c=$(((k + 2) % 3 + 1))
	[ "$same" = 1 ] && c=$a
	eval "pa=\${$a} pb=\${$b} pc=\${$c}"
	id=ioc-resume-$k
	mosquitto_sub -V mqttv311 -p "$pa" -u gw-a-ioc -P gw-a-ioc-secret-012 -i "$id" -c -q 1 -t 'province/gw-a/#' -E \
		> "$dir/made-$k" 2>&1 || { echo "run $k: the session could not be made: $(cat "$dir/made-$k")"; continue; }
	mosquitto_pub -V mqttv311 -p "$pb" -u gw-a -P gw-a-secret-0123456 -q 1 -t province/gw-a/test/m -m "m-$k" ||
		{ echo "run $k: publish failed"; continue; }
	sleep "$away"
	timeout 20 mosquitto_sub -V mqttv311 -p "$pc" -u gw-a-ioc -P gw-a-ioc-secret-012 -i "$id" -c -q 1 \
		-t 'province/gw-a/#' -C 1 -v > "$dir/got-$k" 2>&1
	n=$((n + 1))
	if grep -q "m-$k\$" "$dir/got-$k"; then
		echo "run $k: made on n$a, published on n$b, resumed on n$c: got it"
	else
		lost=$((lost + 1))
		echo "run $k: made on n$a, published on n$b, resumed on n$c: MISSING (got: $(head -c 200 "$dir/got-$k"))"
	fi
done
echo "lost $lost of $n"
[ "$lost" = 0 ]
