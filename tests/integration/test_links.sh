#!/usr/bin/env bash
# Two northbound links (docs/province.md): the mqtt section to broker A (the
# ward IOC) and a link "province" to broker B with another topic prefix,
# carrying KPIs, events and telemetry. B stops for a while: A's feed keeps
# flowing (the packs' times advance on A during B's outage, and an event
# reaches A at once); B comes back and receives its whole backlog, in
# order, none missing. Config mistakes in links are reported at file:line.
. "$(dirname "$0")/lib.sh"

MQA=$(free_port) MQB=$(free_port) BASE=$(free_port 3) CTL=$(free_port)
SIM_CTL=$CTL
start_mosquitto "$MQA"
MOSQA_PID=$MOSQ_PID
MOSQ_PERSIST=1 start_mosquitto "$MQB"
MOSQB_PID=$MOSQ_PID
start_sim --base-port "$BASE" --cabinets 3 --sdm120 0 --dds238 0 --control "$CTL"
LINK="{ name = \"province\"; uri = \"tcp://127.0.0.1:$MQB\"; topic_prefix = \"province/hcm\";
    carries = [ \"kpi\", \"event\", \"telemetry\" ]; max_inflight = 50; keepalive = 5; }"
write_config "$T/gw.conf" "$MQA" "
  { name = \"cab\"; count = 3; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\";
    poll_interval_ms = 250; timeout_ms = 200; backoff_max_ms = 500; }" "
events = { hold_s = 1; };
outbox = { backfill_per_s = 50; };
links = ( $LINK );"
DB="$T/data/wardgw.db"

# config mistakes, each at its line
write_config "$T/bad.conf" "$MQA" "{ name = \"cab\"; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; }" "
links = (
  { name = \"province\"; uri = \"tcp://127.0.0.1:1\"; carries = [ \"kpi\", \"maps\" ]; },
  { name = \"province\"; uri = \"tcp://127.0.0.1:2\"; },
  { name = \"ioc\"; uri = \"tcp://127.0.0.1:3\"; },
  { name = \"Bad Name\"; uri = \"http://x\"; }
);"
"$WARDGW" check -c "$T/bad.conf" > "$T/bad.out" 2>&1 && fail "a config with bad links was accepted"
for want in "bad.conf:10: carries: unknown word 'maps'" "bad.conf:11: link 'province' is defined twice (first at line 10)" \
	    "bad.conf:12: link name 'ioc' is the mqtt section's" "bad.conf:13: link name 'Bad Name' must be" \
	    "bad.conf:13: link uri 'http://x' must start with"; do
	grep -qF "$want" "$T/bad.out" || fail "expected '$want' in: $(cat "$T/bad.out")"
done
ok "link config mistakes reported at file:line (unknown carries word, duplicate name, 'ioc', bad name, bad uri)"
"$WARDGW" check -c "$T/gw.conf" > "$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"

mosquitto_sub -h 127.0.0.1 -p "$MQA" -q 1 -v -t 'ward/gw-test/#' > "$T/a.txt" 2>/dev/null &
PIDS="$PIDS $!"
subb() {
	mosquitto_sub -h 127.0.0.1 -p "$MQB" -c -i prov-reader -q 1 -v -t 'province/hcm/gw-test/#' -t 'ward/#' \
		>> "$T/b.txt" 2>/dev/null &
	SUBB_PID=$!
	PIDS="$PIDS $SUBB_PID"
	wait_until 10 grep -q 'as prov-reader' "$T/mosquitto.log" || fail "province reader did not connect"
}
subb
start_gateway "$T/gw.conf"
wait_until 20 grep -q '^ward/gw-test/telemetry/cab-003 ' "$T/a.txt" || fail "no telemetry on A"
wait_until 20 grep -q '^province/hcm/gw-test/telemetry/cab-003 ' "$T/b.txt" || fail "no telemetry on B"
"$WARDGW" status -c "$T/gw.conf" > "$T/status.out" 2>&1
wait_for 15 '"$WARDGW" status -c "$T/gw.conf" 2>&1 | grep -q "link province.*up (tcp://127.0.0.1:$MQB)"' ||
	fail "wardgw status does not show the province link up: $("$WARDGW" status -c "$T/gw.conf" 2>&1)"
ok "both links up, each with its prefix; wardgw status lists the province link"

# B goes away
stop_pid "$MOSQB_PID"
stop_pid "$SUBB_PID"
wait_until 15 grep -q "mqtt tcp://127.0.0.1:$MQB: connection lost" "$T/gateway.log" || fail "gateway did not notice B stop"
down_ms=$(date +%s%3N)
sim_ctl mute 2 > /dev/null
wait_until 30 grep -q '^ward/gw-test/event/device .*"subject":"cab-003","state":"offline"' "$T/a.txt" ||
	fail "the offline event did not reach A during B's outage"
sim_ctl unmute 2 > /dev/null
wait_until 30 grep -q '^ward/gw-test/event/device .*"subject":"cab-003","state":"online"' "$T/a.txt" ||
	fail "the online event did not reach A during B's outage"
# A keeps flowing: packs of cab-001 made after B stopped keep arriving
a_during() { grep '^ward/gw-test/telemetry/cab-001 ' "$T/a.txt" | cut -d' ' -f2- | jq -r '.[0].bt * 1000 | round' |
	awk -v d="$down_ms" '$1 > d + 500' | wc -l; }
wait_for 20 '[ "$(a_during)" -ge 40 ]' || fail "A's feed paused during B's outage: $(a_during) packs of cab-001"
lag=$(tele_lag "$DB" province)
wait_for 10 '[ "$(tele_lag "$DB" province)" -ge 10 ]' || fail "the province link's cursor moved during its outage (lag $lag)"
# the ward link's cursor is written at most once a second: it may be a
# second behind, but it keeps up while the province's stands still
wait_for 10 '[ "$(tele_lag "$DB" ioc)" -le 10 ]' || fail "the ward link's cursor is held back: lag $(tele_lag "$DB" ioc)"
rows=$(sqlite3 "$DB" 'SELECT count(*) FROM outbox')
[ "$rows" -ge 2 ] || fail "the events B owes are not kept ($rows rows)"
"$WARDGW" status -c "$T/gw.conf" > "$T/status-down.out" 2>&1
grep -q "link province.*down" "$T/status-down.out" || fail "wardgw status does not show the province link down: $(cat "$T/status-down.out")"
ok "B away $(( ($(date +%s%3N) - down_ms) / 1000 )) s: A got $(a_during) packs of cab-001 and both events meanwhile; province owes $(tele_lag "$DB" province) commits, $rows messages"
up_req_ms=$(date +%s%3N)

# B comes back: the backlog arrives
sed -i 's/as prov-reader/(earlier)/' "$T/mosquitto.log"
MOSQ_PERSIST=1 start_mosquitto "$MQB"
subb
wait_for 90 '[ "$(tele_lag "$DB" province)" -le 2 ] && [ "$(sqlite3 "$DB" "SELECT count(*) FROM outbox")" = 0 ]' ||
	fail "the province backlog did not drain (lag $(tele_lag "$DB" province), $(sqlite3 "$DB" 'SELECT count(*) FROM outbox') rows)"
up=$(grep "mqtt tcp://127.0.0.1:$MQB: connected" "$T/gateway.log" | tail -1 | cut -c1-23)
up_ms=$(date -d "$up" +%s%3N)
stop_pid "$GW_PID"
mqtt_flush "$MQB" "$T/b.txt" ward/flush || fail "the flush marker did not reach the province reader"
stop_pid "$SUBB_PID"

grep -v '^ward/flush ' "$T/b.txt" | grep -v '^province/hcm/gw-test/' && fail "B got a topic outside its prefix"
"$WARDGW" query -c "$T/gw.conf" --all --from -1h > "$T/stored.csv" || fail "query --all"
for d in cab-001 cab-002 cab-003; do
	grep "^$d,lampsOn," "$T/stored.csv" | cut -d, -f3 | sort -n > "$T/stored-$d"
	grep "^province/hcm/gw-test/telemetry/$d " "$T/b.txt" | cut -d' ' -f2- | jq -r '.[0].bt * 1000 | round' > "$T/got-$d"
	sort -n -u "$T/got-$d" > "$T/got-uniq-$d"
	missing=$(comm -23 "$T/stored-$d" "$T/got-uniq-$d" | wc -l)
	[ "$missing" = 0 ] || fail "$d: $missing of $(wc -l < "$T/stored-$d") stored polls never reached B"
	awk -v c="$up_ms" '$1 < c - 1000' "$T/got-$d" > "$T/backlog-$d"
	sort -n -c "$T/backlog-$d" 2>/dev/null || fail "$d: B's backlog out of order"
	n_out=$(awk -v a="$down_ms" -v b="$up_req_ms" '$1 > a && $1 < b' "$T/got-uniq-$d" | wc -l)
	[ "$n_out" -ge 20 ] || fail "$d: only $n_out polls from B's outage reached it"
	ok "$d: all $(wc -l < "$T/stored-$d") stored polls reached B, $n_out of them from its outage, in order; $(( $(wc -l < "$T/got-$d") - $(wc -l < "$T/got-uniq-$d") )) duplicates"
done
# events: the same sequence numbers on both links, in order
grep '^ward/gw-test/event/' "$T/a.txt" | cut -d' ' -f2- | jq -r .seq > "$T/ev-a"
grep '^province/hcm/gw-test/event/' "$T/b.txt" | cut -d' ' -f2- | jq -r .seq | uniq > "$T/ev-b"
[ "$(wc -l < "$T/ev-a")" -ge 2 ] || fail "only $(wc -l < "$T/ev-a") events on A"
sort -n -c "$T/ev-b" || fail "events out of order on B: $(tr '\n' ' ' < "$T/ev-b")"
comm -23 <(sort -n "$T/ev-a") <(sort -n -u "$T/ev-b") > "$T/ev-missing"
[ ! -s "$T/ev-missing" ] || fail "events missing on B: seq $(tr '\n' ' ' < "$T/ev-missing")"
ok "events seq $(tr '\n' ' ' < "$T/ev-b")on B as on A, in order, none missing"
