#!/usr/bin/env bash
# Wi-Fi end to end: two simulated hostapd access points with clients joining
# and leaving. The gateway's readings equal the simulator's true figures
# (clients now, unique clients today, sessions, ended sessions, mean signal);
# the Wi-Fi KPIs come out of the KPI engine with targets; hostapd
# restarting is survived; and no raw MAC of the simulator is anywhere in
# the database, the logs or the MQTT traffic of the run.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/hap"
start_hostapd() {
	"$SIM" hostapd --dir "$T/hap" --aps 2 --clients 12 --step-ms 150 --churn-secs "$1" --stats "$T/hap-stats.json" \
		>> "$T/hostapd.log" 2>&1 &
	HAP_PID=$!
	PIDS="$PIDS $HAP_PID"
	wait_until 10 grep -q ready "$T/hostapd.log" || fail "hostapd simulator not ready"
}
MQ=$(free_port)
start_mosquitto "$MQ"
start_hostapd 6
mosquitto_sub -h 127.0.0.1 -p "$MQ" -v -t 'ward/#' > "$T/mqtt.txt" 2>/dev/null &
PIDS="$PIDS $!"
write_config "$T/gw.conf" "$MQ" "
  { name = \"ap-0\"; driver = \"hostapd\"; profile = \"wifi-ap\"; ctrl_path = \"$T/hap/wlan0\"; local_dir = \"$T\";
    poll_interval_ms = 500; timeout_ms = 100; backoff_max_ms = 1000; },
  { name = \"ap-1\"; driver = \"hostapd\"; profile = \"wifi-ap\"; ctrl_path = \"$T/hap/wlan1\"; local_dir = \"$T\";
    poll_interval_ms = 500; timeout_ms = 100; backoff_max_ms = 1000; }" "
groups = ( { name = \"hotspots\"; devices = [ \"ap-0\", \"ap-1\" ]; } );
kpis = (
  { name = \"wifi.hotspots_online\"; domain = \"wifi\"; aggregate = \"last\"; metric = \"apUp\"; window = \"1m\"; unit = \"count\"; },
  { name = \"wifi.availability\"; domain = \"wifi\"; aggregate = \"availability\"; group = \"hotspots\"; window = \"1m\";
    target = { op = \">=\"; value = 0.98; }; },
  { name = \"wifi.clients\"; domain = \"wifi\"; aggregate = \"last\"; metric = \"clients\"; window = \"1m\"; },
  { name = \"wifi.unique_clients\"; domain = \"wifi\"; aggregate = \"last\"; metric = \"uniqueClientsToday\"; window = \"1m\"; },
  { name = \"wifi.sessions\"; domain = \"wifi\"; aggregate = \"delta\"; metric = \"sessions\"; window = \"1m\"; },
  { name = \"wifi.session_mean_s\"; domain = \"wifi\"; aggregate = \"delta_ratio\"; metric = \"sessionSeconds\";
    denominator = \"sessionsEnded\"; window = \"1m\"; },
  { name = \"wifi.traffic\"; domain = \"wifi\"; aggregate = \"delta\"; metric = \"trafficBytes\"; window = \"1m\"; },
  { name = \"wifi.rssi_mean\"; domain = \"wifi\"; aggregate = \"mean\"; metric = \"signalMean\"; window = \"1m\"; },
  { name = \"wifi.chan_util\"; domain = \"wifi\"; aggregate = \"mean\"; metric = \"chanUtil\"; window = \"1m\"; }
);"
"$WARDGW" check -c "$T/gw.conf" > "$T/check.log" 2>&1 || fail "config refused: $(cat "$T/check.log")"
clock_drive
start_gateway "$T/gw.conf" -v -v
wait_until 20 grep -q 'connected (session' "$T/gateway.log" || fail "gateway did not connect"

# after the churn (6 s from the first ATTACH) and two more polls, the figures are still
last() { "$WARDGW" query -c "$T/gw.conf" --device "$1" --metric "$2" --from -5s --format csv 2>/dev/null | tail -1 | cut -d, -f3; }
sim() { jq -r ".aps[$1].$2" "$T/hap-stats.json"; }
wait_for 30 '[ "$(sim 0 sessions)" -gt 5 ] && [ "$(stat -c %Y "$T/hap-stats.json")" -le $(( $(date +%s) - 2 )) ]' \
	|| fail "simulator churn did not settle"
for k in 0 1; do
	want="$(sim $k now)/$(sim $k unique)/$(( $(sim $k sessions) + 2 ))/$(sim $k ended)"
	wait_for 5 '[ "$(last ap-$k clients)/$(last ap-$k uniqueClientsToday)/$(last ap-$k sessions)/$(last ap-$k sessionsEnded)" = "$want" ]' \
		|| fail "ap-$k: clients/unique/sessions/ended $(last ap-$k clients)/$(last ap-$k uniqueClientsToday)/$(last ap-$k sessions)/$(last ap-$k sessionsEnded), simulator $want"
	s=$(printf '%.3f' "$(last ap-$k signalMean)")
	[ "$s" = "$(printf '%.3f' "$(sim $k signal_mean)")" ] || fail "ap-$k mean signal $s, simulator $(sim $k signal_mean)"
	[ "$(last ap-$k apUp)" = 1 ] || fail "ap-$k not up"
	ok "ap-$k: clients $(sim $k now), unique today $(sim $k unique), sessions $(( $(sim $k sessions) + 2 )) (2 there before us), ended $(sim $k ended), signal $s dBm, as the simulator says"
done
c=$(last ap-1 chanUtil)
[ "$(printf '%.4f' "$c")" = "$(awk 'BEGIN { printf "%.4f", 102 / 255 }')" ] || fail "ap-1 chanUtil $c"
t1=$(last ap-0 trafficBytes)
wait_for 5 '[ "$(last ap-0 trafficBytes | cut -d. -f1)" -gt "${t1%.*}" ]' || fail "traffic does not grow"
ok "channel utilisation 102/255, traffic counter growing"

# the KPI engine's Wi-Fi figures
kpi() { grep '^ward/gw-test/kpi/wifi ' "$T/mqtt.txt" | cut -d' ' -f2- | jq -c --arg k "$1" 'select(.[0].n == $k)' | head -1; }
# the window open now closes once the gateway's wall clock is moved to the next minute
clock_next_minute
wait_for 20 '[ -n "$(kpi wifi.chan_util)" ] && [ -n "$(kpi wifi.availability)" ]' || fail "no Wi-Fi KPI packs within 20 s of the next minute"
[ "$(kpi wifi.hotspots_online | jq '.[0].v')" = 2 ] || fail "hotspots online: $(kpi wifi.hotspots_online)"
[ "$(kpi wifi.availability | jq -r '"\(.[0].v)/\(.[] | select(.n == "wifi.availability/status") | .vs)"')" = "1/ok" ] \
	|| fail "availability: $(kpi wifi.availability)"
for k in clients unique_clients sessions traffic rssi_mean chan_util; do
	[ "$(kpi wifi.$k | jq '.[0].v | type')" = '"number"' ] || fail "wifi.$k has no value: $(kpi wifi.$k)"
done
ok "Wi-Fi KPIs: 2 hotspots online, availability 1 (ok), clients $(kpi wifi.clients | jq '.[0].v'), unique $(kpi wifi.unique_clients | jq '.[0].v'), rssi $(kpi wifi.rssi_mean | jq '.[0].v') dBm"

# hostapd restarts: the AP goes offline, then the gateway reconnects and attaches again
kill "$HAP_PID"
wait_until 10 grep -q 'device ap-0: offline' "$T/gateway.log" || fail "ap-0 not offline after hostapd stopped"
n_on=$(grep -c 'device ap-0: online' "$T/gateway.log")
start_hostapd 3
wait_for 15 '[ "$(grep -c "device ap-0: online" "$T/gateway.log")" -gt "$n_on" ]' || fail "ap-0 not back after hostapd restarted"
s0=$(last ap-0 sessions)
wait_for 15 '[ "$(last ap-0 sessions | cut -d. -f1)" -gt "${s0%.*}" ] || [ "$(sim 0 sessions)" = 0 ]' || fail "no events after re-ATTACH"
ok "hostapd restart: offline, then reconnected and attached again"

# privacy: no simulator MAC (02:5a:00:..) in the database, logs or MQTT traffic
stop_pid "$GW_PID"
for f in "$T/data"/wardgw.db*; do
	if grep -c -aP '\x02\x5a\x00[\x00\x01]' "$f" > /dev/null || grep -qai '02:5a:00\|025a00' "$f"; then
		fail "a simulator MAC is in $f"
	fi
done
for f in "$T/gateway.log" "$T/mqtt.txt" "$T/mosquitto.log"; do
	grep -qi '02:5a:00\|025a00\|02-5a-00' "$f" && fail "a simulator MAC is in $f"
done
[ "$(grep -c . "$T/mqtt.txt")" -gt 50 ] || fail "too little MQTT traffic captured to mean anything"
grep -q 'AP-STA\|02:5a' "$T/hostapd.log" && fail "the simulator itself printed MACs"
ok "no raw MAC in the database ($(du -k "$T/data/wardgw.db" | cut -f1) KiB), the debug log ($(wc -l < "$T/gateway.log") lines) or $(wc -l < "$T/mqtt.txt") MQTT messages"
