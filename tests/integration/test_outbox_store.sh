#!/usr/bin/env bash
# The store is the telemetry outbox (docs/storage.md, "The store as the
# outbox"): during a broker outage no telemetry row is written to the
# outbox table, the backlog sits in the commit log behind the link's
# cursor; the gateway is SIGKILLed twice during the outage. When the broker
# returns, every poll stored reaches the IOC's subscriber: per device, the
# pack times (its sequence) with none missing, in order, and each pack's
# values are the stored ones (the payload is rebuilt from the store).
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) BASE=$(free_port 3)
MOSQ_PERSIST=1 start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 3 --sdm120 0 --dds238 0
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab\"; count = 3; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\";
    poll_interval_ms = 250; timeout_ms = 200; }" "outbox = { backfill_per_s = 50; };"
DB="$T/data/wardgw.db"

sub() {
	mosquitto_sub -h 127.0.0.1 -p "$MQ" -c -i ioc-store -q 1 -v -t 'ward/gw-test/telemetry/#' >> "$T/sub.txt" 2>/dev/null &
	SUB_PID=$!
	PIDS="$PIDS $SUB_PID"
	wait_until 10 grep -q 'as ioc-store' "$T/mosquitto.log" || fail "subscriber did not connect"
}
sub
start_gateway "$T/gw.conf"
wait_until 20 grep -q '^ward/gw-test/telemetry/cab-003 ' "$T/sub.txt" || fail "no telemetry"
wait_for 10 '[ "$(tele_lag "$DB" ioc)" -le 2 ]' || fail "the link's cursor does not follow the live telemetry"
ok "live: cursor at $(sqlite3 "$DB" "SELECT value FROM meta WHERE key = 'outbox_tcur:ioc'"), lag $(tele_lag "$DB" ioc)"

stop_pid "$MOSQ_PID"
stop_pid "$SUB_PID"
wait_until 10 grep -q 'connection lost' "$T/gateway.log" || fail "gateway did not notice the broker stop"
for round in 1 2; do
	n0=$(sample_count "$T/gw.conf" cab-003 lampsOn)
	wait_for 30 '[ "$(sample_count "$T/gw.conf" cab-003 lampsOn)" -ge $((n0 + 12)) ]' ||
		fail "no polls stored during the outage (round $round)"
	lag=$(tele_lag "$DB" ioc)
	rows=$(sqlite3 "$DB" 'SELECT count(*) FROM outbox WHERE lane = 1')
	[ "$lag" -ge 5 ] || fail "round $round: the backlog is not in the commit log (lag $lag)"
	[ "$rows" = 0 ] || fail "round $round: $rows telemetry rows in the outbox table"
	ok "outage round $round: $lag commits owed, 0 telemetry rows in the outbox table; SIGKILL"
	kill -9 "$GW_PID"
	wait "$GW_PID" 2>/dev/null
	start_gateway "$T/gw.conf"
	wait_until 10 grep -q 'owed to the IOC' "$T/gateway.log" || fail "restarted gateway does not see its backlog"
done
n0=$(sample_count "$T/gw.conf" cab-003 lampsOn)
wait_for 30 '[ "$(sample_count "$T/gw.conf" cab-003 lampsOn)" -ge $((n0 + 8)) ]' || fail "no polls after the restart"

sed -i 's/as ioc-store/(earlier)/' "$T/mosquitto.log"
MOSQ_PERSIST=1 start_mosquitto "$MQ"
sub
wait_until 30 grep -q 'connected (session' "$T/gateway.log" || fail "gateway did not reconnect"
up=$(grep 'connected (session' "$T/gateway.log" | tail -1 | cut -c1-23)
up_ms=$(date -d "$up" +%s%3N)
wait_for 60 '[ "$(tele_lag "$DB" ioc)" -le 2 ]' || fail "the backlog did not drain (lag $(tele_lag "$DB" ioc))"
stop_pid "$GW_PID"
[ "$(tele_lag "$DB" ioc)" = 0 ] || fail "telemetry still owed after a clean stop"
mqtt_flush "$MQ" "$T/sub.txt" ward/gw-test/telemetry/flush || fail "the flush marker did not reach the subscriber"
stop_pid "$SUB_PID"

"$WARDGW" query -c "$T/gw.conf" --all --from -1h > "$T/stored.csv" || fail "query --all"
total_dups=0
for d in cab-001 cab-002 cab-003; do
	grep "^$d,lampsOn," "$T/stored.csv" | cut -d, -f3 | sort -n > "$T/stored-$d"
	grep "^ward/gw-test/telemetry/$d " "$T/sub.txt" | cut -d' ' -f2- > "$T/packs-$d"
	jq -r '.[0].bt * 1000 | round' < "$T/packs-$d" > "$T/got-$d"
	sort -n "$T/got-$d" | uniq > "$T/got-uniq-$d"
	missing=$(comm -23 "$T/stored-$d" "$T/got-uniq-$d" | wc -l)
	extra=$(comm -13 "$T/stored-$d" "$T/got-uniq-$d" | wc -l)
	dups=$(( $(wc -l < "$T/got-$d") - $(wc -l < "$T/got-uniq-$d") ))
	total_dups=$((total_dups + dups))
	[ "$missing" = 0 ] || fail "$d: $missing of $(wc -l < "$T/stored-$d") stored polls never arrived"
	[ "$extra" = 0 ] || fail "$d: $extra packs for polls that are not stored"
	# in order: live packs go first while the backlog drains, so the
	# backlog (polls well before the reconnect) and the live packs (well
	# after) are each in order as received
	awk -v c="$up_ms" '$1 < c - 1000' "$T/got-$d" > "$T/backlog-$d"
	awk -v c="$up_ms" '$1 > c + 1000' "$T/got-$d" > "$T/live-$d"
	sort -n -c "$T/backlog-$d" 2>/dev/null || fail "$d: backlog out of order"
	sort -n -c "$T/live-$d" 2>/dev/null || fail "$d: live packs out of order"
	[ "$(wc -l < "$T/backlog-$d")" -ge 30 ] || fail "$d: only $(wc -l < "$T/backlog-$d") packs from before the reconnect"
	# every value of every pack is the stored one
	jq -r --arg d "$d" '. as $p | ($p[0].bt * 1000 | round) as $t | $p[] | "\($d),\(.n),\($t),\(.v)"' \
		< "$T/packs-$d" | sort -u > "$T/vals-$d"
	awk -F, 'NR == FNR { v[$1","$2","$3] = $4; next }
		 { k = $1","$2","$3; if (!(k in v)) { print "not stored: " $0; bad++; next }
		   d = v[k] - $4; if (d < 0) d = -d; m = $4 < 0 ? -$4 : $4; if (d > 1e-9 * (m > 1 ? m : 1)) { print "differs: " $0 " stored " v[k]; bad++ } }
		 END { exit bad > 0 }' "$T/stored.csv" "$T/vals-$d" > "$T/diff-$d" ||
		fail "$d: pack values differ from the store: $(head -3 "$T/diff-$d")"
	ok "$d: $(wc -l < "$T/stored-$d") polls stored, all arrived in order with the stored values ($(wc -l < "$T/vals-$d") values), $dups duplicates"
done
[ "$total_dups" = 0 ] || fail "$total_dups duplicates"
ok "two SIGKILLs during a broker outage: telemetry rebuilt from the store, none missing, none twice"
