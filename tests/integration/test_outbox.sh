#!/usr/bin/env bash
# The durable outbox: the broker goes away under load, and during the
# outage the gateway is SIGKILLed and restarted. Every poll that was stored
# must reach the IOC's subscriber exactly once, and what was stored during
# the outage must arrive in order per topic.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) BASE=$(free_port 3)
MOSQ_PERSIST=1 start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 3 --sdm120 0 --dds238 0
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab\"; count = 3; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\";
    poll_interval_ms = 250; timeout_ms = 200; }" "outbox = { backfill_per_s = 20; };"

# the IOC: a persistent session, so nothing is lost on its side either
sub() {
	mosquitto_sub -h 127.0.0.1 -p "$MQ" -c -i ioc-test -q 1 -v -t 'ward/gw-test/telemetry/#' >> "$T/sub.txt" 2>/dev/null &
	SUB_PID=$!
	PIDS="$PIDS $SUB_PID"
	wait_until 10 grep -q 'as ioc-test' "$T/mosquitto.log" || fail "subscriber did not connect"
}
sub
start_gateway "$T/gw.conf"
wait_until 20 grep -q '^ward/gw-test/telemetry/cab-003 ' "$T/sub.txt" || fail "no telemetry"

# outage: broker away; the gateway keeps polling and storing
stop_pid "$MOSQ_PID"
stop_pid "$SUB_PID"
out_from=$(($(date +%s%3N) + 1000))
# an outage of 16 polls of each cabinet (4 s at 250 ms), counted in the store
n0=$(sample_count "$T/gw.conf" cab-003 lampsOn)
wait_for 30 '[ "$(sample_count "$T/gw.conf" cab-003 lampsOn)" -ge $((n0 + 16)) ]' || fail "no polls stored during the outage"
kill -9 "$GW_PID"                               # and the gateway crashes
wait "$GW_PID" 2>/dev/null
start_gateway "$T/gw.conf"
wait_until 10 grep -q 'owed to the IOC' "$T/gateway.log" || fail "restarted gateway does not see its backlog"
n0=$(sample_count "$T/gw.conf" cab-003 lampsOn)
wait_for 30 '[ "$(sample_count "$T/gw.conf" cab-003 lampsOn)" -ge $((n0 + 16)) ]' || fail "no polls stored after the restart"
out_to=$(($(date +%s%3N) - 1000))
sed -i 's/as ioc-test/(earlier)/' "$T/mosquitto.log"
MOSQ_PERSIST=1 start_mosquitto "$MQ"
sub
wait_until 20 grep -q 'connected (session' "$T/gateway.log" || fail "gateway did not reconnect"
# backlog at 20 messages/s: let it drain, then stop cleanly. Telemetry is
# not in the outbox table: the link's cursor in the commit log says how far
# its acknowledged telemetry reaches (docs/storage.md)
for _ in $(seq 600); do
	n=$(tele_lag "$T/data/wardgw.db" ioc)
	[ "$n" -le 3 ] && break
	sleep 0.1
done
stop_pid "$GW_PID"
[ "$(sqlite3 "$T/data/wardgw.db" 'SELECT count(*) FROM outbox')" = 0 ] || fail "outbox not empty after a clean stop"
[ "$(tele_lag "$T/data/wardgw.db" ioc)" = 0 ] || fail "telemetry still owed after a clean stop"
# a marker through the broker: all the gateway sent has reached the IOC
mqtt_flush "$MQ" "$T/sub.txt" ward/gw-test/telemetry/flush || fail "the flush marker did not reach the subscriber"
stop_pid "$SUB_PID"

total_dups=0
for d in cab-001 cab-002 cab-003; do
	"$WARDGW" query -c "$T/gw.conf" --device "$d" --metric lampsOn --from -1h --format csv | tail -n +2 |
		cut -d, -f2 | sort -n > "$T/stored-$d"
	grep "^ward/gw-test/telemetry/$d " "$T/sub.txt" | cut -d' ' -f2- |
		jq -r '.[0].bt * 1000 | round' > "$T/got-$d"
	sort -n "$T/got-$d" | uniq > "$T/got-uniq-$d"
	missing=$(comm -23 "$T/stored-$d" "$T/got-uniq-$d" | wc -l)
	dups=$(( $(wc -l < "$T/got-$d") - $(wc -l < "$T/got-uniq-$d") ))
	total_dups=$((total_dups + dups))
	[ "$missing" = 0 ] || fail "$d: $missing of $(wc -l < "$T/stored-$d") stored polls never arrived"
	# what was stored during the outage arrives in order
	awk -v a="$out_from" -v b="$out_to" '$1 >= a && $1 <= b' "$T/got-$d" > "$T/outage-$d"
	sort -n -c "$T/outage-$d" 2>/dev/null || fail "$d: outage backlog out of order"
	[ "$(wc -l < "$T/outage-$d")" -ge 15 ] || fail "$d: only $(wc -l < "$T/outage-$d") polls from the outage"
	ok "$d: $(wc -l < "$T/stored-$d") stored, all arrived, $dups duplicates, $(wc -l < "$T/outage-$d") from the outage in order"
done
[ "$total_dups" = 0 ] || fail "$total_dups duplicates"
ok "exactly once through a broker outage and a SIGKILL"
