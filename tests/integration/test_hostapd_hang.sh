#!/usr/bin/env bash
# A hostapd that stops answering in the middle of the station walk
# (STA-FIRST answered, STA-NEXT not): the poll fails with the reason and
# the AP goes offline; no poll of NaN values is stored as a good one. When
# hostapd answers again the AP comes back.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/hap"
"$SIM" hostapd --dir "$T/hap" --aps 1 --clients 8 --step-ms 100 --churn-secs 0 --hang-file "$T/hang" \
	>> "$T/hostapd.log" 2>&1 &
PIDS="$PIDS $!"
wait_until 10 grep -q ready "$T/hostapd.log" || fail "hostapd simulator not ready"
MQ=$(free_port)
start_mosquitto "$MQ"
write_config "$T/gw.conf" "$MQ" "
  { name = \"ap-0\"; driver = \"hostapd\"; profile = \"wifi-ap\"; ctrl_path = \"$T/hap/wlan0\"; local_dir = \"$T\";
    poll_interval_ms = 500; timeout_ms = 100; backoff_max_ms = 1000; }"
start_gateway "$T/gw.conf"
clients() { "$WARDGW" query -c "$T/gw.conf" --device ap-0 --metric clients --from -1h --format csv 2>/dev/null | tail -n +2; }
wait_for 15 '[ "$(clients | wc -l)" -ge 2 ]' || fail "no clients readings"
[ "$(clients | tail -1 | cut -d, -f3)" -ge 2 ] 2>/dev/null || fail "the simulator's clients are not seen: $(clients | tail -1)"
ok "ap-0 online, $(clients | tail -1 | cut -d, -f3) clients"

touch "$T/hang"
wait_until 10 grep -q 'device ap-0: offline.*STA-NEXT (station 2): no reply within 100 ms' "$T/gateway.log" \
	|| fail "a hang in the station walk did not take ap-0 offline with its reason"
ok "hang in the walk: $(grep -o 'device ap-0: offline.*' "$T/gateway.log" | head -1)"
# every stored clients value is a number: no poll with NaN stored as good
clients | awk -F, '$3 == "" || $4 != "good" { bad++ } END { exit bad > 0 }' || fail "a NaN or non-good clients row was stored: $(clients | awk -F, '$3 == "" || $4 != "good"' | head -3)"
grep -qi '02:5a:00' "$T/gateway.log" && fail "a MAC reached the log"
ok "no poll of the hung walk stored, no MAC in the reason"

rm -f "$T/hang"
wait_until 15 grep -q 'device ap-0: online' "$T/gateway.log" || fail "ap-0 not back when hostapd answers again"
ok "ap-0 back online once hostapd answers"
