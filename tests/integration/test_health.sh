#!/usr/bin/env bash
# Bad devices: a device that refuses one of its reads is degraded (the
# others are stored good, that one comm_error, with the exception as the
# reason); a value outside the profile's min/max is stored out_of_range;
# a device that stops answering goes degraded, then offline, is retried at
# a growing interval (fewer requests), and every state change is in the
# device_log table with its reason.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) BASE=$(free_port 2) CTL=$(free_port)
SIM_CTL=$CTL
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 2 --sdm120 0 --dds238 0 --control "$CTL" --freeze
mkdir -p "$T/profiles"
cp "$ROOT"/config/profiles/*.conf "$T/profiles/"
cat > "$T/profiles/healthtest.conf" <<'EOP'
profile = {
  name = "healthtest";
  registers = (
    { metric = "lampsInstalled"; table = "holding"; address = 0x0000; type = "u16"; unit = "count"; },
    # the simulator serves ~228 V: above this max, so out_of_range
    { metric = "supplyVoltage";  table = "holding"; address = 0x0006; type = "u16"; scale = 0.1; unit = "V";
      min = 180.0; max = 200.0; },
    { metric = "powerFactor";    table = "holding"; address = 0x000C; type = "u16"; scale = 0.001; unit = "/";
      min = 0.0; max = 1.0; },
    # not in the device's map: exception 0x02 on every poll
    { metric = "missing";        table = "holding"; address = 0x0190; type = "u16"; }
  );
};
EOP
write_config "$T/gw.conf" "$MQ" "
  { name = \"bad\"; host = \"127.0.0.1\"; port = $BASE; profile = \"healthtest\"; },
  { name = \"cab\"; host = \"127.0.0.1\"; port = $((BASE + 1)); profile = \"lighting-cabinet\";
    poll_interval_ms = 500; backoff_max_ms = 4000; }" 'events = { hold_s = 1; };'
sed -i "s|^profiles_dir = .*|profiles_dir = \"$T/profiles\";|" "$T/gw.conf"
start_gateway "$T/gw.conf"
DB="$T/data/wardgw.db"
q() { "$WARDGW" query -c "$T/gw.conf" --device "$1" --metric "$2" --from -1h --format csv 2>/dev/null | tail -n +2; }

# --- 1. one read refused: degraded, the rest stored, qualities per value
wait_until 15 grep -q 'device bad: degraded: exception 0x02 (illegal data address) reading 1 holding at 0x0190' \
	"$T/gateway.log" || fail "bad not degraded with the exception as reason"
wait_for 10 '[ "$(q bad lampsInstalled | wc -l)" -ge 2 ]' || fail "no samples of bad"
q bad lampsInstalled | tail -1 | grep -q ',good$' || fail "lampsInstalled not good: $(q bad lampsInstalled | tail -1)"
q bad supplyVoltage | tail -1 | grep -q ',out_of_range$' || fail "supplyVoltage not out_of_range: $(q bad supplyVoltage | tail -1)"
q bad powerFactor | tail -1 | grep -q ',good$' || fail "powerFactor (in range) not good: $(q bad powerFactor | tail -1)"
q bad missing | tail -1 | grep -q ',comm_error$' || fail "missing not comm_error: $(q bad missing | tail -1)"
ok "partial poll: degraded; good / out_of_range (228 V > max 200) / comm_error per value"
grep -q 'device bad: offline' "$T/gateway.log" && fail "a device that answers went offline"
wait_for 10 "[ \"\$(sqlite3 \"$DB\" \"SELECT count(*) FROM device_log WHERE device = 'bad' AND state = 'degraded' AND reason LIKE 'exception 0x02%'\")\" -ge 1 ]" \
	|| fail "device_log has no degraded row with the reason: $(sqlite3 "$DB" 'SELECT * FROM device_log')"
ok "device_log: bad degraded, reason $(sqlite3 "$DB" "SELECT reason FROM device_log WHERE device = 'bad' AND state = 'degraded' LIMIT 1")"

# --- 2. silent: degraded after one failure, offline after three, backoff
sim_ctl mute 1 > /dev/null
wait_until 10 grep -q 'device cab: degraded: no reply within 300 ms' "$T/gateway.log" || fail "cab not degraded first"
wait_until 10 grep -q 'device cab: offline: no reply within 300 ms' "$T/gateway.log" || fail "cab not offline"
served() { sim_ctl served 1 | awk -F= '{ print $2 }'; }
s0=$(served) b0=$(q bad lampsInstalled | wc -l)
t0=$SECONDS
# polled every 500 ms, 16 requests in 8 s; offline, the retries come after
# 0.5, 1, 2, 4, 4 s: at most 6. The 8 s are counted on the gateway's own
# schedule: 8 more polls of "bad" (every second) stored
wait_for 30 '[ "$(q bad lampsInstalled | wc -l)" -ge $((b0 + 8)) ]' || fail "bad was not polled 8 times in 30 s"
s1=$(served)
[ $((s1 - s0)) -le 6 ] || fail "offline cab got $((s1 - s0)) requests in 8 polls of bad (no growing interval)"
[ $((s1 - s0)) -ge 2 ] || fail "offline cab was not retried ($((s1 - s0)) requests in 8 polls of bad)"
ok "offline cab retried $((s1 - s0)) times during 8 polls of bad ($((SECONDS - t0)) s; 16 polls at its interval)"
sim_ctl unmute 1 > /dev/null
wait_until 10 grep -q 'device cab: online' "$T/gateway.log" || fail "cab not back online"
ok "cab back online at a retry"
wait_for 10 "[ \"\$(sqlite3 \"$DB\" \"SELECT group_concat(state, ' ') FROM (SELECT state FROM device_log WHERE device = 'cab' AND state != 'unknown' ORDER BY ts, rowid)\")\" = 'online degraded offline online' ]" \
	|| fail "cab's device_log: $(sqlite3 "$DB" "SELECT state, reason FROM device_log WHERE device = 'cab' ORDER BY ts")"
sqlite3 "$DB" "SELECT reason FROM device_log WHERE device = 'cab' AND state = 'offline'" | grep -q 'no reply within 300 ms' \
	|| fail "offline reason not stored"
ok "device_log of cab: online degraded offline online, reasons stored"
