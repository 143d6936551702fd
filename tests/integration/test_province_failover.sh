#!/usr/bin/env bash
# wardgw-test: long
# A province on one machine (scripts/province.sh): the 3-node nats-server
# cluster with per-gateway rights, a ward broker (one mosquitto for every
# ward) and 20 real wardgw on simulated wards (2 cabinets each, polled
# every 5 s, 1-minute KPI windows), each with two links: its mqtt section
# to the ward broker (prefix ward, its own gateway id) and a link
# "province" whose uris list the three nodes in a rotated order (its own
# credentials; KPIs, events, telemetry), and a provincial reader with a
# durable session. A ward subscriber stamps every ward message's arrival.
# The node most gateways' province links are on is killed (SIGKILL) for
# 30 s and started again. Then:
#  - every gateway whose province link was on it moved to another node
#    before it came back, and its failover time (kill -> its "connected"
#    line) is printed;
#  - every gateway's province link is back on the cluster: status.json
#    (links[].state, links[].server), wardgw status and /metrics
#    (wardgw_link_up, wardgw_link_server_info) agree;
#  - the ward links never paused: each gateway's telemetry kept reaching
#    the ward subscriber from a poll before the kill to a poll after the
#    restart (no gap between two packs over 2 poll intervals, no pack
#    later than a poll interval after its poll, most of the outage's polls
#    there), and each ward link stayed connected (its connects counter did
#    not move, no "connection lost" in its log);
#  - every KPI window and telemetry pack each gateway stored reached the
#    reader (or still waits in its outbox), compared per gateway by (kpi,
#    seq) and (device, poll time) with its database: none missing;
#    duplicates counted and printed.
# The gateways' configs come from gateway_config in scripts/province.sh.
. "$(dirname "$0")/lib.sh"

command -v nats-server > /dev/null || fail "nats-server not installed (scripts/install-deps.sh)"
command -v mosquitto_sub > /dev/null || fail "mosquitto-clients not installed"
command -v mosquitto > /dev/null || fail "mosquitto not installed"
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
ln -s "$PD/ward.log" "$T/ward-mosquitto.log"
. "$PD/c/cluster.env"
. "$PD/province.env"
[ "$PLINK" = province ] && [ -n "$WARD_PORT" ] || fail "province.sh started no ward broker (PLINK=$PLINK)"
WARD_URI="tcp://127.0.0.1:$WARD_PORT"
# the ward subscriber: every ward telemetry pack, stamped when it arrives
mosquitto_sub -V mqttv311 -h 127.0.0.1 -p "$WARD_PORT" -i ward-ioc -q 1 -t 'ward/+/telemetry/#' -F '%U %t %p' \
	> "$T/ward.txt" 2> "$T/ward-sub.err" &
PIDS="$PIDS $!"
ok "$NGW gateways connected to the 3-node cluster: $(grep '^# ' "$T/start.out" | tr '\n' ' ')and to the ward broker ($WARD_URI)"

# GW's log lines "mqtt <node>: WHAT" for the cluster's nodes (not the ward link's)
cluster_lines() {
	local u pats=()
	for u in $MQTT_URIS; do pats+=(-e "mqtt $u: $2"); done
	grep -F "${pats[@]}" "$PD/$1/gateway.log"
}
# GW's province link / ward link in its status snapshot
plink() { jq -r --arg f "$2" '.links[] | select(.name == "province") | .[$f]' "$PD/$1/data/status.json" 2>/dev/null; }
wlink() { jq -r --arg f "$2" '.links[] | select(.name == "ioc") | .[$f]' "$PD/$1/data/status.json" 2>/dev/null; }

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
ward_all() {
	for i in $(seq 1 "$NGW"); do grep -q " ward/gw-$i/telemetry/" "$T/ward.txt" || return 1; done
}
wait_until 60 ward_all || fail "not every gateway's telemetry reached the ward subscriber"
ok "the reader (durable session, port $reader_port) and the ward subscriber have telemetry from all $NGW gateways"
# the ward links' connects before the kill (each snapshot shows them up)
declare -A wconn
for i in $(seq 1 "$NGW"); do
	wait_for 15 '[ "$(wlink "gw-$i" state)" = up ]' || fail "gw-$i: its ward link is not up: $(jq -c .links "$PD/gw-$i/data/status.json")"
	wconn[gw-$i]=$(wlink "gw-$i" connects)
done

kill_ms=$("$ROOT/scripts/province-cluster.sh" kill "$PD/c" "$victim") || fail "kill node $victim failed"
ok "node $victim ($victim_uri, $(echo $on_victim | wc -w) gateways) SIGKILLed"

# each gateway that was on it moves to another node while it is down
log_ms() { # "YYYY-MM-DD HH:MM:SS.mmm" -> epoch ms
	date -d "$1" +%s%3N
}
moved() { # GW: a "connected" line to another node after the kill
	local line
	line=$(cluster_lines "$1" 'connected (session' | tail -n 1)
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
restart_ms=$(date +%s%3N)

# failover time per gateway: kill -> its first "connected" line after it
printf '   failover (kill of node %s -> connected elsewhere), ms:' "$victim"
times=""
for g in $on_victim; do
	line=$(cluster_lines "$g" 'connected (session' | while read -r d t rest; do
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
	done < <(cluster_lines "$1" 'connection lost')
	return 1
}
others_dropped=0
for i in $(seq 1 "$NGW"); do
	case " $on_victim " in *" gw-$i "*) continue ;; esac
	lost_after_kill "gw-$i" && others_dropped=$((others_dropped + 1))
done
ok "$others_dropped of the $((NGW - cnt)) gateways on the other nodes were also disconnected by the cluster and reconnected"

# every gateway back on the cluster: its province link up on one of the
# nodes, in its status snapshot
link_up() {
	[ "$(plink "$1" state)" = up ] || return 1
	case " $MQTT_URIS " in *" $(plink "$1" server) "*) ;; *) return 1 ;; esac
}
for i in $(seq 1 "$NGW"); do
	wait_until 60 link_up "gw-$i" || fail "gw-$i is not back on the cluster: $(cluster_lines "gw-$i" '' | tail -n 3)"
done
ok "every gateway's province link is up again (status.json links[])"
# the node a moved gateway is on, as its log, status.json, `wardgw status` and /metrics say
g=${on_victim%% *}
now_on=$(cluster_lines "$g" 'connected (session' | tail -n 1 | sed -n 's/.*mqtt \([^ ]*\): connected.*/\1/p')
[ "$(plink "$g" server)" = "$now_on" ] ||
	fail "$g: status.json says the province link is on $(plink "$g" server), its log $now_on"
"$WARDGW" status -c "$PD/$g/gateway.conf" > "$T/status.out" 2>&1
grep -qF "link province up ($now_on)" "$T/status.out" || fail "$g: wardgw status does not show the node: $(grep link "$T/status.out")"
grep -qF "link ioc      up ($WARD_URI)" "$T/status.out" || fail "$g: wardgw status does not show the ward link up: $(grep link "$T/status.out")"
ok "$g: its province link is on $now_on: its log, status.json (links[].server, $(plink "$g" disconnects) disconnects) and wardgw status agree"
# every gateway's /metrics: both links up, the province link's node, the ward link's connects as before
for i in $(seq 1 "$NGW"); do
	curl -sf "http://127.0.0.1:$((HTTP + i - 1))/metrics" > "$T/metrics-$i.txt" || fail "gw-$i: no /metrics"
	on=$(plink "gw-$i" server)
	for want in 'wardgw_link_up{link="province"} 1' 'wardgw_link_up{link="ioc"} 1' \
		    "wardgw_link_server_info{link=\"province\",uri=\"$on\"} 1" \
		    "wardgw_link_connects_total{link=\"ioc\"} ${wconn[gw-$i]}"; do
		grep -qxF "$want" "$T/metrics-$i.txt" || fail "gw-$i: /metrics has no '$want': $(grep 'wardgw_link_\(up\|server\|connects\)' "$T/metrics-$i.txt")"
	done
done
grep -q '^wardgw_link_disconnects_total{link="province"} [1-9]' "$T/metrics-${g#gw-}.txt" ||
	fail "$g: /metrics counts no disconnect of its province link"
ok "/metrics of all $NGW: both links up (wardgw_link_up), the province link's node (wardgw_link_server_info), the ward links' connects unchanged"

# the ward links never paused: each gateway's ward telemetry kept arriving
# from before the kill to after the restart. Wait until every gateway has
# a pack at the ward subscriber from two polls after the restart, then look
# at the arrival times across [kill - poll, restart + poll].
ward_after() {
	awk -v t="$restart_ms" -v p="$POLL" '{ ms = int($1 * 1000); if (ms > t + 2 * p) { split($2, a, "/"); g[a[2]] = 1 } }
		END { n = 0; for (k in g) n++; print n }' "$T/ward.txt"
}
wait_for 60 '[ "$(ward_after)" -ge "$NGW" ]' || fail "only $(ward_after) gateways' ward telemetry arrived after the restart"
# Per gateway: the longest gap between two of its packs' arrivals, the
# packs that arrived during the 30 s outage, and the worst delay from a
# pack's poll (its bt) to its arrival, over that window.
awk -v lo=$((kill_ms - POLL)) -v hi=$((restart_ms + POLL)) -v k0="$kill_ms" -v k1=$((kill_ms + 30000)) '
	{ ms = int($1 * 1000); split($2, a, "/"); g = a[2]
	  if (g in prev && prev[g] <= hi && ms >= lo && ms - prev[g] > gap[g]) gap[g] = ms - prev[g]
	  if (ms >= k0 && ms < k1) n[g]++
	  if (ms >= lo && ms <= hi && match($0, /"bt":[0-9.]+/)) {
		d = ms - int(substr($0, RSTART + 5, RLENGTH - 5) * 1000); if (d > lat[g]) lat[g] = d }
	  prev[g] = ms }
	END { for (g in prev) printf "%s %d %d %d\n", g, gap[g], n[g], lat[g] }' "$T/ward.txt" | sort -V > "$T/ward-gaps"
echo "   ward link per gateway (longest gap ms, packs during the outage, worst poll-to-arrival ms):"
awk '{ printf "%s %s/%s/%s%s", $1, $2, $3, $4, NR % 5 ? "  " : "\n" }' "$T/ward-gaps" | sed 's/^/     /'
[ "$(wc -l < "$T/ward-gaps")" = "$NGW" ] || fail "the ward subscriber heard $(wc -l < "$T/ward-gaps") gateways, not $NGW"
limit=$((POLL * 2)) least=$(( (30000 / POLL - 2) * D ))
while read -r g gap n lat; do
	[ "$gap" -le "$limit" ] || fail "$g: its ward link paused: $gap ms between two packs at the ward subscriber across the outage (limit $limit ms)"
	[ "$n" -ge "$least" ] || fail "$g: only $n packs reached the ward subscriber during the 30 s outage (want $least)"
	[ "$lat" -le "$POLL" ] || fail "$g: a pack reached the ward subscriber $lat ms after its poll during the outage (limit $POLL ms)"
done < "$T/ward-gaps"
for i in $(seq 1 "$NGW"); do
	[ "$(wlink "gw-$i" connects)" = "${wconn[gw-$i]}" ] ||
		fail "gw-$i: its ward link connected again ($(wlink "gw-$i" connects) connects, ${wconn[gw-$i]} before the kill)"
	! grep -qF "mqtt $WARD_URI: connection lost" "$PD/gw-$i/gateway.log" ||
		fail "gw-$i: its ward link was lost: $(grep -F "mqtt $WARD_URI: connection lost" "$PD/gw-$i/gateway.log" | head -n 1)"
done
worst=$(sort -k2,2n "$T/ward-gaps" | tail -n 1) wlat=$(sort -k4,4n "$T/ward-gaps" | tail -n 1)
ok "the ward links never paused from the kill - ${POLL} ms to the restart + ${POLL} ms: worst gap $(echo "$worst" | cut -d' ' -f2) ms ($(echo "$worst" | cut -d' ' -f1); poll $POLL ms, limit $limit ms), worst poll-to-arrival $(echo "$wlat" | cut -d' ' -f4) ms ($(echo "$wlat" | cut -d' ' -f1); limit $POLL ms); $(sort -k3,3n "$T/ward-gaps" | head -n 1 | cut -d' ' -f3)-$(sort -k3,3n "$T/ward-gaps" | tail -n 1 | cut -d' ' -f3) packs per gateway during the outage; every ward link's connects unchanged, none lost"

# every gateway has closed a KPI window after the kill (so each stored
# some, whatever the minute the test started in), then stop the gateways
# (their databases are final) and compare with what the reader got
kpi_after() { # GW: a KPI window of GW that ended after the kill
	[ "$(sqlite3 -readonly "$PD/$1/data/wardgw.db" "SELECT count(*) FROM kpi_value WHERE end > $kill_ms" 2>/dev/null)" -gt 0 ]
}
for i in $(seq 1 "$NGW"); do
	wait_until 70 kpi_after "gw-$i" || fail "no KPI window of gw-$i closed after the kill"
done
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
