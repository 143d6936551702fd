#!/usr/bin/env bash
# Reload on SIGHUP: a valid change (a device added) is applied without a gap
# in the other devices' data and without restarting them; a changed device is
# restarted; a broken file is refused with FILE:LINE in the log and a config
# event, and the old config keeps running.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) BASE=$(free_port 3)
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 3 --sdm120 0 --dds238 0
devs() {   # devs COUNT [POLL_MS_OF_THE_THIRD]
	echo "{ name = \"cab\"; count = 2; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; }"
	[ "$1" -ge 3 ] && echo ", { name = \"cab-003\"; host = \"127.0.0.1\"; port = $((BASE + 2)); profile = \"lighting-cabinet\"; poll_interval_ms = ${2:-1000}; }"
}
write_config "$T/gw.conf" "$MQ" "$(devs 2)"
mosquitto_sub -h 127.0.0.1 -p "$MQ" -v -t 'ward/gw-test/event/#' > "$T/events.txt" 2>/dev/null &
PIDS="$PIDS $!"
start_gateway "$T/gw.conf"
wait_until 20 grep -q 'connected (session' "$T/gateway.log" || fail "gateway did not connect"
wait_for 20 '[ "$(sample_count "$T/gw.conf" cab-001 lampsOn)" -ge 3 ]' || fail "no samples before the reload"

db="$T/data/wardgw.db"
ts_of() {   # stored sample times (ms) of DEVICE's lampsOn
	"$WARDGW" query -c "$T/gw.conf" --device "$1" --metric lampsOn --from 0 --format csv 2>/dev/null |
		tail -n +2 | cut -d, -f2
}

# 1. a device added
write_config "$T/gw.conf" "$MQ" "$(devs 3)"
t_reload=$(($(date +%s%N) / 1000000))
kill -HUP "$GW_PID"
wait_until 10 grep -q 'reload: config .* applied' "$T/gateway.log" || fail "reload not applied"
grep -q 'applied in .* 2 devices kept running, 1 added, 0 removed, 0 restarted' "$T/gateway.log" ||
	fail "reload summary: $(grep 'reload:' "$T/gateway.log")"
wait_for 20 '[ "$(sample_count "$T/gw.conf" cab-003 lampsOn)" -ge 3 ]' || fail "the added device has no samples"
# cab-001 kept polling: 1 s interval, so no two samples around the reload
# are more than 1.5 s apart, and there are samples on both sides
wait_for 10 '[ "$(ts_of cab-001 | awk -v t=$t_reload "\$1 > t + 3000" | wc -l)" -ge 1 ]' || fail "no cab-001 samples after the reload"
gap=$(ts_of cab-001 | awk -v t=$t_reload '$1 > t - 5000 && $1 < t + 5000 { if (p) { d = $1 - p; if (d > m) m = d } p = $1 } END { print m + 0 }')
before=$(ts_of cab-001 | awk -v t=$t_reload '$1 < t' | wc -l)
[ "$before" -ge 2 ] || fail "too few samples before the reload"
[ "$gap" -gt 0 ] && [ "$gap" -le 1500 ] || fail "cab-001's samples have a ${gap} ms gap around the reload"
reload_ms=$(sed -n 's/.*reload: config .* applied in \([0-9.]*\) ms.*/\1/p' "$T/gateway.log" | head -1)
ok "device added by SIGHUP in $reload_ms ms; cab-001 kept polling, largest gap around the reload $gap ms (interval 1000 ms)"

# 2. a device changed: restarted alone
write_config "$T/gw.conf" "$MQ" "$(devs 3 500)"
kill -HUP "$GW_PID"
wait_for 10 '[ "$(grep -c "reload: config .* applied" "$T/gateway.log")" -ge 2 ]' || fail "second reload not applied"
grep -q 'applied in .* 2 devices kept running, 0 added, 0 removed, 1 restarted' "$T/gateway.log" ||
	fail "second reload: $(grep 'reload:' "$T/gateway.log" | tail -2)"
ok "a changed device (poll_interval_ms) is restarted, the other two kept"

# 2b. a device removed: stopped, its data stays
write_config "$T/gw.conf" "$MQ" "$(devs 2)"
kill -HUP "$GW_PID"
wait_for 10 '[ "$(grep -c "reload: config .* applied" "$T/gateway.log")" -ge 3 ]' || fail "third reload not applied"
grep -q 'applied in .* 2 devices kept running, 0 added, 1 removed, 0 restarted' "$T/gateway.log" ||
	fail "third reload: $(grep 'reload:' "$T/gateway.log" | tail -2)"
n3=$(sample_count "$T/gw.conf" cab-003 lampsOn)
[ "$n3" -ge 3 ] || fail "the removed device's samples are gone"
ok "a removed device is stopped; its $n3 stored samples stay"
write_config "$T/gw.conf" "$MQ" "$(devs 3 500)"
kill -HUP "$GW_PID"
wait_for 10 '[ "$(grep -c "reload: config .* applied" "$T/gateway.log")" -ge 4 ]' || fail "fourth reload not applied"

# 3. a broken file: refused with file:line, the old config runs on
cp "$T/gw.conf" "$T/good.conf"
sed -i 's/^store = {/store = { batch_msx = 5;/' "$T/gw.conf"
line=$(grep -n '^store = ' "$T/gw.conf" | cut -d: -f1)
# gw.conf is broken now: read the store with the good copy
all_samples() { "$WARDGW" query -c "$T/good.conf" --all | tail -n +2 | wc -l; }
n0=$(all_samples)
kill -HUP "$GW_PID"
wait_until 10 grep -q "the running configuration .* stays" "$T/gateway.log" || fail "broken config not refused"
grep -q "reload: $T/gw.conf:$line: unknown key 'batch_msx' in store (did you mean 'batch_ms'?)" "$T/gateway.log" ||
	fail "no file:line in the log: $(grep 'reload:' "$T/gateway.log" | tail -3)"
wait_until 10 grep -q '^ward/gw-test/event/config .*"state":"rejected"' "$T/events.txt" || fail "no config event"
grep '^ward/gw-test/event/config ' "$T/events.txt" | grep -q "gw.conf:$line: unknown key" || fail "the event lacks the error"
wait_for 10 '[ "$(all_samples)" -gt $((n0 + 30)) ]' || fail "polling stopped after a refused reload"
kill -0 "$GW_PID" || fail "gateway died"
ok "broken file refused: '$(grep "reload: $T/gw.conf:$line" "$T/gateway.log" | head -1 | sed 's/.*reload: //' | cut -c1-80)...', event published, polling goes on"

# 4. changing what needs a restart is refused as a whole
sed 's/id = "gw-test"/id = "gw-other"/' "$T/good.conf" > "$T/gw.conf"
kill -HUP "$GW_PID"
wait_until 10 grep -q 'gateway.id cannot change while running' "$T/gateway.log" || fail "id change not refused"
ok "a changed gateway.id is refused (needs a restart)"

wait_for 10 '"$WARDGW" status -c "$T/good.conf" > "$T/status.txt"; grep -q "6 reloads (2 refused)" "$T/status.txt"' ||
	fail "status: $(grep loop "$T/status.txt")"
grep -q 'cab-003 ' "$T/status.txt" || fail "status lacks the added device"
ok "wardgw status: 6 reloads (2 refused), cab-003 listed"

# a clean stop after reloads: exit 0, every config freed once
stop_pid "$GW_PID"
wait "$GW_PID"; rc=$?
[ "$rc" = 0 ] || fail "gateway exited $rc after the reloads"
ok "clean stop after 6 reloads (exit 0)"
