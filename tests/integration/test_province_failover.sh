#!/usr/bin/env bash
# wardgw-test: long
# A province on one machine (scripts/province.sh): the 3-node nats-server
# cluster with per-gateway rights, 20 real wardgw on simulated wards (2
# cabinets each, polled every 5 s, 1-minute KPI windows), each with
# mqtt.uris listing the three nodes in a rotated order, and a provincial
# reader with a durable session. The node most gateways are on is killed
# (SIGKILL) for 30 s and started again. Then:
#  - every gateway that was on it moved to another node before it came back,
#    and its failover time (kill -> its "connected" line) is printed;
#  - every gateway is back on the cluster (status: link up);
#  - every KPI window and telemetry pack each gateway stored reached the
#    reader (or still waits in its outbox), compared per gateway by (kpi,
#    seq) and (device, poll time) with its database: none missing;
#    duplicates counted and printed.
# The gateways' configs come from gateway_config in scripts/province.sh
# (one function: a second link per gateway goes there).
. "$(dirname "$0")/lib.sh"

command -v nats-server > /dev/null || fail "nats-server not installed (scripts/install-deps.sh)"
command -v mosquitto_sub > /dev/null || fail "mosquitto-clients not installed"
NGW=${PROVINCE_GATEWAYS:-20}
PD="$T/province"
BASE=$(free_port $((100 + NGW * 2 + 10))) || fail "no free port range"
HTTP=$(free_port "$NGW") || fail "no free port range"
PROV=("$ROOT/scripts/province.sh")
province_cleanup() {
	B=$B "${PROV[@]}" stop "$PD" > "$T/stop.out" 2>&1
	cleanup
}
trap province_cleanup EXIT

B=$B "${PROV[@]}" start "$PD" --gateways "$NGW" --devices 2 --poll-ms 5000 --kpi-window 1m \
	--base-port "$BASE" --http-port "$HTTP" --keepalive 10 > "$T/start.out" 2>&1 || fail "province did not start: $(tail -n 5 "$T/start.out")"
for i in 1 2 3; do ln -s "$PD/c/n$i/nats.log" "$T/nats-n$i.log"; done
. "$PD/c/cluster.env"
ok "$NGW gateways connected to the 3-node cluster: $(grep '^# ' "$T/start.out" | tr '\n' ' ')"

# the node most gateways are on (its number in the cluster: MQTT port order)
B=$B "${PROV[@]}" nodes "$PD" > "$T/nodes.before"
victim_uri=$(grep -v '^#' "$T/nodes.before" | awk '{ print $2 }' | sort | uniq -c | sort -k1,1nr -k2 | head -n 1 | awk '{ print $2 }')
k=0 victim=""
for u in $MQTT_URIS; do k=$((k + 1)); [ "$u" = "$victim_uri" ] && victim=$k; done
[ -n "$victim" ] || fail "no node found for '$victim_uri'"
on_victim=$(awk -v u="$victim_uri" '$2 == u { print $1 }' "$T/nodes.before" | tr "\n" " ")
[ -n "$on_victim" ] || fail "no gateway on the victim node"
reader_port=$(cat "$PD/reader.port")

# some data before the kill: every gateway has sent telemetry
got_all() {
	for i in $(seq 1 "$NGW"); do grep -q "^province/gw-$i/telemetry/" "$PD/reader.txt" || return 1; done
}
wait_until 60 got_all || fail "not every gateway's telemetry reached the reader"
ok "the reader (durable session, port $reader_port) has telemetry from all $NGW gateways"

kill_ms=$("$ROOT/scripts/province-cluster.sh" kill "$PD/c" "$victim") || fail "kill node $victim failed"
ok "node $victim ($victim_uri, $(echo $on_victim | wc -w) gateways) SIGKILLed"

# each gateway that was on it moves to another node while it is down
log_ms() { # "YYYY-MM-DD HH:MM:SS.mmm" -> epoch ms
	date -d "$1" +%s%3N
}
moved() { # GW: a "connected" line to another node after the kill
	local line
	line=$(grep 'mqtt .*: connected (session' "$PD/$1/gateway.log" | tail -n 1)
	[ -n "$line" ] || return 1
	printf '%s' "$line" | grep -qF "mqtt $victim_uri:" && return 1
	[ "$(log_ms "${line:0:23}")" -ge "$kill_ms" ]
}
all_moved() { for g in $on_victim; do moved "$g" || return 1; done; }
wait_until 30 all_moved || fail "not every gateway of node $victim moved while it was down: $(for g in $on_victim; do moved "$g" || echo "$g"; done | tr '\n' ' ')"
down_s=$(( ($(date +%s%3N) - kill_ms) / 1000 ))
# the node stays down 30 s in all
end=$((kill_ms + 30000))
while [ "$(date +%s%3N)" -lt "$end" ]; do sleep 0.5; done
"$ROOT/scripts/province-cluster.sh" restart "$PD/c" "$victim" > "$T/restart.out" 2>&1 || fail "restart: $(cat "$T/restart.out")"

# failover time per gateway: kill -> its first "connected" line after it
printf '   failover (kill of node %s -> connected elsewhere), ms:' "$victim"
times=""
for g in $on_victim; do
	line=$(grep 'mqtt .*: connected (session' "$PD/$g/gateway.log" | while read -r d t rest; do
		[ "$(log_ms "$d $t")" -ge "$kill_ms" ] && { echo "$d $t $rest"; break; }; done)
	ms=$(( $(log_ms "${line:0:23}") - kill_ms ))
	times="$times $ms"
	printf ' %s=%s' "$g" "$ms"
done
echo
sorted=$(printf '%s\n' $times | sort -n)
cnt=$(echo "$sorted" | wc -l)
ok "all $cnt gateways of node $victim moved within ${down_s} s (node down 30 s): median $(echo "$sorted" | sed -n "$(( (cnt + 1) / 2 ))p") ms, worst $(echo "$sorted" | tail -n 1) ms"
# the others: did the cluster drop them too (stream leaders moving)?
lost_after_kill() { # GW: a "connection lost" line after the kill
	local d t rest
	while read -r d t rest; do
		[ "$(log_ms "$d $t")" -ge "$kill_ms" ] && return 0
	done < <(grep 'connection lost' "$PD/$1/gateway.log")
	return 1
}
others_dropped=0
for i in $(seq 1 "$NGW"); do
	case " $on_victim " in *" gw-$i "*) continue ;; esac
	lost_after_kill "gw-$i" && others_dropped=$((others_dropped + 1))
done
ok "$others_dropped of the $((NGW - cnt)) gateways on the other nodes were also disconnected by the cluster and reconnected"

# every gateway back on the cluster: link up in its status snapshot
link_up() { [ "$(jq -r .link.state "$PD/$1/data/status.json" 2>/dev/null)" = up ]; }
for i in $(seq 1 "$NGW"); do
	wait_until 60 link_up "gw-$i" || fail "gw-$i is not back on the cluster: $(grep mqtt "$PD/gw-$i/gateway.log" | tail -n 3)"
done
ok "every gateway's link is up again"
# the node a moved gateway is on, as its log, status.json and `wardgw status` say
g=${on_victim%% *}
now_on=$(grep 'mqtt .*: connected (session' "$PD/$g/gateway.log" | tail -n 1 | sed -n 's/.*mqtt \([^ ]*\): connected.*/\1/p')
[ "$(jq -r .link.server "$PD/$g/data/status.json")" = "$now_on" ] ||
	fail "$g: status.json says link.server $(jq -r .link.server "$PD/$g/data/status.json"), its log $now_on"
"$WARDGW" status -c "$PD/$g/gateway.conf" > "$T/status.out" 2>&1
grep -qF "link      up ($now_on)" "$T/status.out" || fail "$g: wardgw status does not show the node: $(grep link "$T/status.out")"
gi=${g#gw-}
curl -sf "http://127.0.0.1:$((HTTP + gi - 1))/metrics" > "$T/metrics.txt" || fail "$g: no /metrics"
grep -qF "wardgw_mqtt_server_info{uri=\"$now_on\"} 1" "$T/metrics.txt" ||
	fail "$g: /metrics: $(grep wardgw_mqtt_server "$T/metrics.txt")"
grep -q '^wardgw_mqtt_disconnects_total [1-9]' "$T/metrics.txt" || fail "$g: /metrics counts no disconnect"
ok "$g is on $now_on: its log, /metrics (wardgw_mqtt_server_info), status.json (link.server, $(jq -r .link.disconnects "$PD/$g/data/status.json") disconnects) and wardgw status agree"

# at least one KPI window closed after the restart, then stop the gateways
# (their databases are final) and compare with what the reader got
kpi_after() { # a KPI window of gw-1 that ended after the kill
	[ "$(sqlite3 -readonly "$PD/gw-1/data/wardgw.db" "SELECT count(*) FROM kpi_value WHERE end > $kill_ms" 2>/dev/null)" -gt 0 ]
}
wait_until 70 kpi_after || fail "no KPI window of gw-1 closed after the kill"
for i in $(seq 1 "$NGW"); do
	pid=$(cat "$PD/gw-$i/pid")
	kill -TERM "$pid" 2>/dev/null
done
for i in $(seq 1 "$NGW"); do
	pid=$(cat "$PD/gw-$i/pid")
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && fail "gw-$i did not stop"
done
report() { python3 "$ROOT/scripts/province-report.py" --wardgw "$WARDGW" "$PD" > "$T/report.txt" 2>&1; }
# the reader may still be receiving what the cluster acknowledged last
wait_until 60 report || { cat "$T/report.txt"; fail "something stored never reached the reader"; }
sed 's/^/   /' "$T/report.txt"
python3 "$ROOT/scripts/province-report.py" --json --wardgw "$WARDGW" "$PD" > "$T/report.json" || fail "report --json"
kpis=$(jq .total.kpi_stored "$T/report.json") packs=$(jq .total.telemetry_stored "$T/report.json")
[ "$kpis" -ge "$NGW" ] || fail "only $kpis KPI windows stored by $NGW gateways"
[ "$packs" -ge $((NGW * 10)) ] || fail "only $packs telemetry packs stored"
[ "$(jq '[.gateways[] | select(.kpi.stored == 0 or .telemetry.stored == 0)] | length' "$T/report.json")" = 0 ] ||
	fail "a gateway stored no KPI window or no telemetry"
[ "$(jq '.total.kpi_unknown + .total.telemetry_unknown' "$T/report.json")" = 0 ] ||
	fail "the reader got packs no gateway stored"
ok "nothing lost: $kpis KPI windows and $packs telemetry packs stored, all at the reader or in an outbox ($(jq '.total.kpi_pending + .total.telemetry_pending' "$T/report.json") pending); duplicates: $(jq .total.kpi_duplicates "$T/report.json") KPI, $(jq .total.telemetry_duplicates "$T/report.json") telemetry"
