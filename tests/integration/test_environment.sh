#!/usr/bin/env bash
# Environment domain end to end: simulated sensors (Siemens QSA2700 PM,
# Renke RS-WS-N01, generic noise and water level) -> their profiles ->
# VN_AQI and flood watch -> SenML on ward/gw-test/kpi/environment with
# per-stream sequence numbers and targets, events on ward/gw-test/event/aqi,
# .../flood and .../kpi, the --live line and the status page. AQI hours are
# 1 s long here (a day is 24 s); the sensors' values are fixed through the
# simulator's control port, so every figure is known in advance:
#   PM2.5 40 µg/m³ (PM10 65): AQI = 50 + 2 x (40 - 25) = 80, Trung bình, pm25
#   PM2.5 100 (PM10 155): AQI = 150 + 50/70 x (100 - 80) = 164.3 -> 164, Xấu
#   water 0 -> 15 -> 35 -> 25 -> 5 cm with levels 10/20/30 and 2 cm
#   hysteresis: raised 1, raised 3, lowered 2, cleared (peak 35, level 3).
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) BASE=$(free_port 4) SIM_CTL=$(free_port) HTTP=$(free_port)
start_mosquitto "$MQ"
# 0 PM sensor, 1 temperature/humidity, 2 noise, 3 water level; --freeze: values
# change only through the control port
start_sim --base-port "$BASE" --cabinets 0 --sdm120 0 --dds238 0 --pm 1 --th 1 --noise 1 --water 1 \
	--control "$SIM_CTL" --freeze
sim_ctl env 0 40 > /dev/null || fail "sim env"
sim_ctl env 3 0 > /dev/null || fail "sim env"
write_config "$T/gw.conf" "$MQ" "
  { name = \"aq\"; host = \"127.0.0.1\"; port = $BASE; profile = \"siemens-qsa2700\"; poll_interval_ms = 200; timeout_ms = 150; },
  { name = \"th\"; host = \"127.0.0.1\"; port = $((BASE + 1)); profile = \"renke-rs-ws-n01\"; },
  { name = \"noise\"; host = \"127.0.0.1\"; port = $((BASE + 2)); profile = \"generic-noise\"; },
  { name = \"wl\"; host = \"127.0.0.1\"; port = $((BASE + 3)); profile = \"generic-water-level\"; poll_interval_ms = 200; timeout_ms = 150; }" "
http = { listen = \"127.0.0.1:$HTTP\"; };
environment = {
  hour_s = 1;
  day_min_hours = 12;
  sites = (
    { name = \"pm\"; pm25 = \"aq\"; pm10 = \"aq/pm10\"; },
    { name = \"flood\"; water_depth = \"wl\"; flood_levels = [ 10.0, 20.0, 30.0 ]; flood_hysteresis = 2.0; }
  );
  targets = { aqi_hour = { op = \"<=\"; value = 100.0; }; good_days_share = { op = \">=\"; value = 0.5; }; };
};"
"$WARDGW" check -c "$T/gw.conf" > "$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"
grep -q 'environment: 2 sites (1 air quality, 1 flood), AQI hour 1 s (not 3600: for demonstrations, not VN_AQI); targets: aqi_hour, good_days_share$' "$T/check.out" \
	&& grep -q 'site flood reads water_depth from wl through the generic profile generic-water-level' "$T/check.out" \
	|| fail "check's environment lines: $(cat "$T/check.out")"

# --- the profiles read what the simulator serves
near() { awk -v a="$1" -v b="$2" -v e="${3:-1e-9}" 'BEGIN { d = a - b; exit !(d <= e && d >= -e) }'; }
for pair in aq:0 th:1 noise:2 wl:3; do
	dev=${pair%:*} idx=${pair#*:}
	"$WARDGW" probe -c "$T/gw.conf" --device "$dev" > "$T/probe.out" 2>&1 || fail "probe $dev: $(cat "$T/probe.out")"
	n=0
	while IFS='=' read -r metric want; do
		[ -n "$metric" ] || continue
		got=$(awk -v m="$metric" '$1 == m && $4 == "good" { print $2 }' "$T/probe.out")
		[ -n "$got" ] || fail "$dev $metric: not read as good: $(cat "$T/probe.out")"
		near "$got" "$want" 1e-6 || fail "$dev $metric: probe $got, simulator $want"
		n=$((n + 1))
	done < <(sim_ctl get "$idx")
	[ "$n" -ge 1 ] || fail "$dev: nothing compared"
done
ok "profiles siemens-qsa2700, renke-rs-ws-n01, generic-noise, generic-water-level read what the simulator serves"

mosquitto_sub -h 127.0.0.1 -p "$MQ" -v -t 'ward/gw-test/kpi/environment' -t 'ward/gw-test/event/#' \
	> "$T/sub.txt" 2>/dev/null &
PIDS="$PIDS $!"
start_gateway "$T/gw.conf" --live 1

pack() { grep '^ward/gw-test/kpi/environment ' "$T/sub.txt" | cut -d' ' -f2- | jq -c --arg k "$1" 'select(.[0].n == $k)'; }
rec() { jq -r --arg n "$2" '.[] | select(.n == $n) | (.v // .vs)' <<< "$1"; }
events() { grep "^ward/gw-test/event/$1 " "$T/sub.txt" | cut -d' ' -f2-; }
# hold N: wait until N more hourly AQI windows were published (a level held for N s)
hold() {
	local h0
	h0=$(pack environment.pm.aqi_hour | wc -l)
	wait_for 15 "[ \$(pack environment.pm.aqi_hour | wc -l) -ge $((h0 + $1)) ]" || fail "no hourly AQI for $1 s"
}

# --- hourly AQI at PM2.5 40: 80, Trung bình, dominated by PM2.5; target <= 100 met
wait_for 20 '[ "$(pack environment.pm.aqi_hour | jq -r ".[0].v" | grep -c "^80$")" -ge 3 ]' \
	|| fail "no hourly AQI 80: $(pack environment.pm.aqi_hour | tail -3)"
p=$(pack environment.pm.aqi_hour | jq -c 'select(.[0].v == 80)' | tail -1)
[ "$(rec "$p" environment.pm.aqi_hour/band)" = "Trung bình" ] || fail "band: $p"
[ "$(rec "$p" environment.pm.aqi_hour/colour)" = "#FFFF00" ] || fail "colour: $p"
[ "$(rec "$p" environment.pm.aqi_hour/dominant)" = "pm25" ] || fail "dominant: $p"
near "$(rec "$p" environment.pm.aqi_hour/sub/pm10)" 57.5 || fail "PM10 sub-index: $p"
[ "$(rec "$p" environment.pm.aqi_hour/status)" = "ok" ] || fail "status: $p"
[ "$(rec "$p" environment.pm.aqi_hour/target)" = "100" ] || fail "target: $p"
[ "$(jq -r '.[0].bver' <<< "$p")" = "26" ] || fail "no bver with ug/m3 records: $p"
# sequence numbers: consecutive per stream from 1
seqs=$(pack environment.pm.aqi_hour | jq -r '.[] | select(.n == "environment.pm.aqi_hour/seq") | .v' | tr '\n' ' ')
awk -v s="$seqs" 'BEGIN { n = split(s, a, " "); for (i = 1; i <= n; i++) if (a[i] != i) exit 1; exit n < 3 }' \
	|| fail "sequence numbers not 1, 2, 3...: $seqs"
ok "hourly AQI 80 Trung bình #FFFF00 (pm25; PM10 57.5), target ok, seq $(echo "$seqs" | cut -c1-20)..."

# --- PM2.5 100: NowCast climbs through Kém to 164 Xấu; band events 2 -> 3 -> 4
sim_ctl env 0 100 > /dev/null || fail "sim env"
# --- and the water rises meanwhile
sim_ctl env 3 15 > /dev/null
wait_for 10 '[ -n "$(events flood)" ]' || fail "no flood event at 15 cm: $(tail -5 "$T/gateway.log")"
hold 1
sim_ctl env 3 35 > /dev/null
wait_for 10 '[ "$(events flood | wc -l)" -ge 2 ]' || fail "no flood event at 35 cm: $(events flood)"
hold 2
sim_ctl env 3 25 > /dev/null
wait_for 10 '[ "$(events flood | wc -l)" -ge 3 ]' || fail "no flood event at 25 cm: $(events flood)"
sim_ctl env 3 5 > /dev/null
wait_for 10 '[ "$(events flood | wc -l)" -ge 4 ]' || fail "no flood event at 5 cm: $(events flood)"
got=$(events flood | jq -r '[.state, .level, .previous, .threshold] | map(tostring) | join(":")' | tr '\n' ' ')
[ "$got" = "raised:1:0:10 raised:3:1:30 lowered:2:3:30 cleared:0:2:20 " ] || fail "flood events: $got"
clr=$(events flood | tail -1)
[ "$(jq -r '[.peak, .max_level, .subject, .unit] | map(tostring) | join(":")' <<< "$clr")" = "35:3:flood:cm" ] \
	|| fail "cleared event: $clr"
dur=$(jq -r '.duration_s' <<< "$clr")
[ "$dur" -ge 2 ] || fail "episode duration: $clr"
ok "flood: raised 1 and 3, lowered 2, cleared after $dur s (peak 35 cm, level 3)"

wait_for 30 '[ "$(pack environment.pm.aqi_hour | jq -r ".[0].v" | tail -1)" = 164 ]' \
	|| fail "AQI did not reach 164: $(pack environment.pm.aqi_hour | jq -r '.[0].v' | tail -15 | tr '\n' ' ')"
p=$(pack environment.pm.aqi_hour | tail -1)
[ "$(rec "$p" environment.pm.aqi_hour/band)" = "Xấu" ] || fail "band at 164: $p"
[ "$(rec "$p" environment.pm.aqi_hour/status)" = "behind" ] || fail "status at 164: $p"
bands=$(events aqi | jq -r 'select(.subject == "pm") | "\(.previous)>\(.band)"' | tr '\n' ' ')
[ "$bands" = "2>3 3>4 " ] || fail "AQI band events: $bands"
any_event() { events "$1" | jq -s -e "any(.[]; $2)" > /dev/null; }
any_event aqi '.subject == "pm" and .band == 4 and .band_name == "Xấu" and .colour == "#FF0000" and .seq > 0' \
	|| fail "band event: $(events aqi)"
any_event aqi '.subject == "ward" and .band == 4' || fail "no ward band event: $(events aqi)"
any_event kpi '.subject == "environment.pm.aqi_hour" and .status == "behind" and .previous == "ok"' \
	|| fail "no KPI status event: $(events kpi)"
ok "AQI 164 Xấu after the NowCast caught up; events Trung bình -> Kém -> Xấu; target behind (event)"

# --- the day closes: daily AQI, hours in each band, share of good days, hours flooded
wait_for 40 '[ -n "$(pack environment.flood.flood_hours_day | jq -c "select(.[] | (.n == \"environment.flood.flood_hours_day/episodes\" and .v >= 1))")" ]' \
	|| fail "no day with the flood episode: $(pack environment.flood.flood_hours_day | tail -2)"
# an episode can span a day boundary (1 s hours, 24 s days): wait for the
# days that hold all of it to close
flooded() { pack environment.flood.flood_hours_day | jq -r '.[0].v' | awk '{ s += $1 } END { print s + 0 }'; }
wait_for 40 'awk -v a="$(flooded)" -v d="$dur" "BEGIN { exit !(a >= d - 1) }"' || true
fh=$(flooded)
awk -v a="$fh" -v d="$dur" 'BEGIN { exit !(a >= d - 1 && a <= d + 1.5) }' \
	|| fail "hours flooded $fh (1 s hours), episode $dur s"
d=$(pack environment.pm.aqi_day | tail -1)
[ -n "$d" ] || fail "no daily AQI"
hb=$(jq '[.[] | select(.n | test("/hours_band")) | .v] | add' <<< "$d")
[ "$(jq -r '.[0].v // "none"' <<< "$d")" != none ] || [ "$(jq -r '.[0].vs' <<< "$d")" = no_data ] || fail "daily AQI: $d"
near "$hb" "$(rec "$d" environment.pm.aqi_day/n)" || fail "hours in bands $hb != hours with an AQI: $d"
# the first day may have begun before the gateway: wait for a day with enough hours (day_min_hours 12)
goodpack() { pack environment.ward.good_days_share | jq -c 'select(any(.[]; .n == "environment.ward.good_days_share/days" and .v >= 1))' | tail -1; }
wait_for 60 '[ -n "$(goodpack)" ]' || fail "no day with a daily AQI: $(pack environment.ward.good_days_share | tail -1)"
g=$(goodpack)
near "$(jq -r '.[0].v' <<< "$g")" "$(awk -v a="$(rec "$g" environment.ward.good_days_share/good_days)" -v b="$(rec "$g" environment.ward.good_days_share/days)" 'BEGIN { print a / b }')" 1e-9 \
	|| fail "share of good days: $g"
ok "day closed: flooded $fh h (= episode), daily AQI $(jq -r '.[0].v // .[0].vs' <<< "$d") with $hb h in bands, good days $(jq -r '.[0].v' <<< "$g")"

# --- the local views
grep -q 'environment  ward AQI 164 Xấu (pm)' "$T/gateway.log" || fail "--live: $(grep environment "$T/gateway.log" | tail -2)"
curl -fsS "http://127.0.0.1:$HTTP/" > "$T/page.html" || fail "status page"
grep -q 'id="environment"' "$T/page.html" && grep -q 'background:#FF0000' "$T/page.html" \
	|| fail "status page has no environment table with Xấu's colour"
ok "--live line and the status page (decision's colours)"

# --- a restart continues the sequence numbers and the bands
last=$(pack environment.pm.aqi_hour | jq -r '.[] | select(.n == "environment.pm.aqi_hour/seq") | .v' | tail -1)
stop_pid "$GW_PID"
# a clean stop (under ASan/UBSan: no report)
! grep -q 'Sanitizer\|runtime error' "$T/gateway.log" || fail "sanitizer: $(grep -m3 'Sanitizer\|runtime error' "$T/gateway.log")"
mv "$T/gateway.log" "$T/gateway-1.log"
stored=$(sqlite3 "$T/data/wardgw.db" "SELECT max(seq) FROM env_value WHERE stream = 'environment.pm.aqi_hour'")
[ "$stored" -ge "$last" ] || fail "stored seq $stored < published $last"
n0=$(wc -l < "$T/sub.txt")
start_gateway "$T/gw.conf"
# the seqs published after the restart that are new (a window the broker
# had not acknowledged before the stop is sent again first, at least once,
# with its own seq)
new_seqs() { tail -n +$((n0 + 1)) "$T/sub.txt" | grep '^ward/gw-test/kpi/environment ' | cut -d' ' -f2- |
	jq -r '.[] | select(.n == "environment.pm.aqi_hour/seq") | .v' | awk -v s="$stored" '$1 > s'; }
wait_for 15 '[ "$(new_seqs | wc -l)" -ge 2 ]' || fail "no hourly AQI after the restart"
first=$(new_seqs | head -1)
[ "$first" = $((stored + 1)) ] || fail "after the restart seq $first, want $((stored + 1))"
stop_pid "$GW_PID"
! grep -q 'Sanitizer\|runtime error' "$T/gateway.log" || fail "sanitizer: $(grep -m3 'Sanitizer\|runtime error' "$T/gateway.log")"
ok "restart: sequence continues at $first"
exit 0
