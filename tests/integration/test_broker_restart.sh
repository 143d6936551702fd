#!/usr/bin/env bash
# The broker stops and comes back: polling and storing go on throughout,
# and publishing resumes (with the retained status online again).
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) BASE=$(free_port 2)
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 2 --sdm120 0 --dds238 0
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab\"; count = 2; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; }"
start_gateway "$T/gw.conf"
wait_until 10 grep -q 'connected' "$T/gateway.log" || fail "gateway did not connect to the broker"
wait_for 10 '[ "$(sample_count "$T/gw.conf" cab-001 lampsOn)" -ge 1 ]' || fail "no data"

stop_pid "$MOSQ_PID"
wait_until 10 grep -q 'connection lost' "$T/gateway.log" || fail "gateway did not notice the broker stop"
before=$(sample_count "$T/gw.conf" cab-001 lampsOn) t0=$SECONDS
# polled once a second: 4 samples stored within 5 s without a broker
wait_for 5 '[ "$(sample_count "$T/gw.conf" cab-001 lampsOn)" -ge $((before + 4)) ]'
after=$(sample_count "$T/gw.conf" cab-001 lampsOn)
[ $((after - before)) -ge 4 ] || fail "only $((after - before)) samples stored in $((SECONDS - t0)) s without a broker"
ok "broker down: $((after - before)) samples stored in $((SECONDS - t0)) s"

start_mosquitto "$MQ"
mosquitto_sub -h 127.0.0.1 -p "$MQ" -v -t 'ward/#' > "$T/sub.txt" 2>/dev/null &
PIDS="$PIDS $!"
wait_until 40 grep -q '^ward/gw-test/telemetry/cab-002 ' "$T/sub.txt" || fail "publishing did not resume"
wait_until 5 grep -q '^ward/gw-test/status .*"online"' "$T/sub.txt" || fail "status not online after reconnect"
ok "publishing resumed after the broker came back"
kill -0 "$GW_PID" || fail "gateway died"
