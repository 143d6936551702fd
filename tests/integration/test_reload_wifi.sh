#!/usr/bin/env bash
# A config reload (SIGHUP) that changes one access point restarts that AP
# alone: its figures of the day go on (unique clients, sessions do not
# drop), the modem is not restarted and keeps polling, nothing crashes.
. "$(dirname "$0")/lib.sh"

# config reload (SIGHUP, gateway/ops.c) comes from the ops branch; on a
# tree without it there is nothing to test yet
if [ ! -f "$ROOT/gateway/ops.c" ]; then
	echo "   skip: this tree has no config reload (gateway/ops.c)"
	exit 0
fi

mkdir -p "$T/hap"
"$SIM" hostapd --dir "$T/hap" --aps 1 --clients 12 --step-ms 150 --churn-secs 4 --stats "$T/hap-stats.json" > "$T/hostapd.log" 2>&1 &
PIDS="$PIDS $!"
wait_until 10 grep -q ready "$T/hostapd.log" || fail "hostapd simulator not ready"
"$SIM" modem --link "$T/ttyMODEM" --speed 50 > "$T/modem.log" 2>&1 &
PIDS="$PIDS $!"
wait_until 10 grep -q ready "$T/modem.log" || fail "modem simulator not ready"
MQ=$(free_port)
start_mosquitto "$MQ"
devs="
  { name = \"ap-0\"; driver = \"hostapd\"; profile = \"wifi-ap\"; ctrl_path = \"$T/hap/wlan0\"; local_dir = \"$T\";
    poll_interval_ms = 500; timeout_ms = 100; backoff_max_ms = 1000; },
  { name = \"modem-1\"; driver = \"modem\"; profile = \"cell-modem\"; port = \"$T/ttyMODEM\";
    poll_interval_ms = 500; timeout_ms = 150; backoff_max_ms = 1000; }"
write_config "$T/gw.conf" "$MQ" "$devs"
start_gateway "$T/gw.conf"
wait_until 20 grep -q 'connected (session' "$T/gateway.log" || fail "gateway did not connect"
last() { "$WARDGW" query -c "$T/gw.conf" --device "$1" --metric "$2" --from -5s --format csv 2>/dev/null | tail -1 | cut -d, -f3; }
sim() { jq -r ".aps[0].$1" "$T/hap-stats.json"; }
wait_for 30 '[ "$(stat -c %Y "$T/hap-stats.json")" -le $(( $(date +%s) - 2 )) ] && [ "$(sim sessions)" -gt 3 ]' || fail "churn did not settle"
want="$(sim unique)/$(( $(sim sessions) + 2 ))"
wait_for 5 '[ "$(last ap-0 uniqueClientsToday)/$(last ap-0 sessions)" = "$want" ]' || fail "before reload: $(last ap-0 uniqueClientsToday)/$(last ap-0 sessions), want $want"
# a reload with a changed AP timeout: that AP restarts, the modem does not
write_config "$T/gw.conf" "$MQ" "${devs/poll_interval_ms = 500; timeout_ms = 100/poll_interval_ms = 500; timeout_ms = 110}"
c0=$(sample_count "$T/gw.conf" ap-0 sessions)
kill -HUP "$GW_PID"
wait_until 10 grep -q 'reload: config .* applied.* 1 devices kept running, 0 added, 0 removed, 1 restarted' "$T/gateway.log" \
	|| fail "reload not applied as one AP restarted: $(grep 'reload: config' "$T/gateway.log")"
n=$(grep -c 'hostapd ap-0: polling' "$T/gateway.log")
[ "$n" -eq 2 ] || fail "the AP was not restarted by the reload ($n starts)"
grep -q 'hostapd ap-0: stopped' "$T/gateway.log" || fail "the AP was not stopped by the reload"
m=$(grep -c 'modem modem-1: polling' "$T/gateway.log")
[ "$m" -eq 1 ] || fail "the modem was restarted by a reload that did not change it ($m starts)"
# two polls after the restart (the reload may land between polls)
wait_for 10 '[ "$(sample_count "$T/gw.conf" ap-0 sessions)" -gt $((c0 + 2)) ]' || fail "AP not polled after reload"
[ "$(last ap-0 uniqueClientsToday)/$(last ap-0 sessions)" = "$want" ] || fail "after reload: $(last ap-0 uniqueClientsToday)/$(last ap-0 sessions), want $want"
s1=$(sample_count "$T/gw.conf" modem-1 lteRsrp)
wait_for 10 '[ "$(sample_count "$T/gw.conf" modem-1 lteRsrp)" -gt "$s1" ]' || fail "modem not polled after reload"
kill -0 "$GW_PID" || fail "gateway died"
ok "reload of one AP: its figures kept ($want unique/sessions); the modem not restarted, polled on"
