#!/usr/bin/env bash
# KPIs end to end: 1-minute windows over two simulated cabinets. The energy
# KPI equals the counter increase in the raw samples; sequence numbers go
# on without a gap across a SIGKILL; a device that goes silent becomes one
# offline event (hysteresis) and lowers the availability KPI. The gateway's
# wall clock is driven (lib.sh, clock_next_minute): a window closes a few
# seconds after the test moves the clock to the next minute, not up to a
# minute later.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) BASE=$(free_port 2) SIM_CTL=$(free_port)
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 2 --sdm120 0 --dds238 0 --control "$SIM_CTL"
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab\"; count = 2; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; }" "
events = { hold_s = 2; };
kpis = (
  { name = \"energy\"; aggregate = \"delta\"; metric = \"activeEnergy\"; window = \"1m\"; },
  { name = \"online\"; aggregate = \"availability\"; window = \"1m\"; target = { op = \">=\"; value = 0.99; }; },
  { name = \"power\"; aggregate = \"sum\"; metric = \"activePower\"; window = \"1m\"; }
);"
mosquitto_sub -h 127.0.0.1 -p "$MQ" -v -t 'ward/gw-test/kpi/#' -t 'ward/gw-test/event/#' > "$T/sub.txt" 2>/dev/null &
PIDS="$PIDS $!"
clock_drive
start_gateway "$T/gw.conf"
wait_until 20 grep -q 'connected (session' "$T/gateway.log" || fail "gateway did not connect"
grep -q "clock: wall time shifted by the offset in $T/offset" "$T/gateway.log" || fail "the wall clock is not driven"

kpi_msgs() { grep '^ward/gw-test/kpi/lighting ' "$T/sub.txt" | cut -d' ' -f2- | jq -c --arg k "$1" 'select(.[0].n == $k)'; }
energy_samples() { "$WARDGW" query -c "$T/gw.conf" --all | grep -c ',activeEnergy,'; }
# ten seconds of polls of both cabinets in the window open now, then it is closed
wait_for 30 '[ "$(energy_samples)" -ge 20 ]' || fail "fewer than 20 energy samples in 30 s: $(energy_samples)"
clock_next_minute
wait_for 20 '[ -n "$(kpi_msgs energy)" ]' || fail "no energy KPI within 20 s of the next minute"
first=$(kpi_msgs energy | head -1)
seq1=$(jq '.[] | select(.n == "energy/seq") | .v' <<< "$first")
[ "$seq1" = 1 ] || fail "first window has seq $seq1"
from=$(jq '.[] | select(.n == "energy/start") | .v * 1000 | round' <<< "$first")
to=$(jq '.[] | select(.n == "energy/end") | .v * 1000 | round' <<< "$first")
got=$(jq '.[0].v' <<< "$first")
# expected: per cabinet, the last reading in the window minus the last one before it
want=$("$WARDGW" query -c "$T/gw.conf" --all | awk -F, -v from="$from" -v to="$to" '
  $2 == "activeEnergy" && $4 != "" {
    d = $1; t = $3 + 0; devs[d] = 1
    if (t < to && (!(d in tt) || t > tt[d])) { tt[d] = t; vt[d] = $4 }
    if (t < from && (!(d in tb) || t > tb[d])) { tb[d] = t; vb[d] = $4 }
    if (t >= from && (!(d in ta) || t < ta[d])) { ta[d] = t; va[d] = $4 }
  }
  END {   # as SQL would: a device with no reading before the end, or none at all, adds nothing
    for (d in devs) if ((d in tt) && ((d in tb) || (d in ta))) s += vt[d] - ((d in tb) ? vb[d] : va[d])
    printf "%.6f", s }')
awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; exit !(d < 1e-6 && d > -1e-6) }' ||
	fail "energy KPI $got kWh, raw samples say $want"
ok "energy KPI for [$from, $to) = $got kWh = counter increase in the raw samples"
st=$(kpi_msgs online | head -1 | jq -r '.[] | select(.n == "online/status") | .vs')
case "$st" in ok|behind) ok "availability KPI has a status ($st)" ;; *) fail "availability status '$st'" ;; esac

# crash, restart: the sequence goes on
kill -9 "$GW_PID"; wait "$GW_PID" 2>/dev/null
start_gateway "$T/gw.conf"
n0=$(kpi_msgs energy | wc -l)
wait_until 20 grep -q 'connected (session' "$T/gateway.log" || fail "gateway did not connect after the restart"
clock_next_minute
wait_for 20 '[ "$(kpi_msgs energy | wc -l)" -ge $((n0 + 1)) ]' || fail "no windows after the restart"
seqs=$(kpi_msgs energy | jq '.[] | select(.n == "energy/seq") | .v' | sort -n | uniq)
[ "$seqs" = "$(seq 1 "$(wc -l <<< "$seqs")")" ] || fail "sequence has gaps: $(echo $seqs)"
ok "energy sequence 1..$(wc -l <<< "$seqs") without a gap across a SIGKILL"

# a silent device: one offline event after hold_s, and the availability drops
sim_ctl mute 1 > /dev/null || fail "sim ctl mute"
wait_until 30 grep -q '^ward/gw-test/event/device .*"state":"offline"' "$T/sub.txt" || fail "no offline event"
# three more polls of the silent cabinet (the simulator counts the requests
# it leaves unanswered): the gateway got past the point where it would
# send the event again
s0=$(sim_ctl served 1 | sed -n 's/^served=//p')
wait_for 30 '[ "$(sim_ctl served 1 | sed -n "s/^served=//p")" -ge $((s0 + 3)) ]' || fail "the silent cabinet was not polled again"
[ "$(grep -c '^ward/gw-test/event/device .*"offline"' "$T/sub.txt")" = 1 ] || fail "offline event repeated"
ok "one offline event: $(grep '^ward/gw-test/event/device' "$T/sub.txt" | head -1 | cut -d' ' -f2-)"
# the window the cabinet went silent in: closed by moving to the next minute
clock_next_minute
wait_for 20 '[ "$(kpi_msgs online | tail -1 | jq ".[0].v < 0.99")" = true ]' || fail "availability did not drop"
ok "availability dropped: $(kpi_msgs online | tail -1 | jq -c '[.[0].v, (.[] | select(.n == "online/status") | .vs)]')"
"$WARDGW" kpi -c "$T/gw.conf" --last 3 > "$T/kpi.txt" || fail "wardgw kpi failed"
grep -q '^energy .*seq=' "$T/kpi.txt" && grep -q 'open' "$T/kpi.txt" || fail "wardgw kpi output: $(cat "$T/kpi.txt")"
ok "wardgw kpi prints closed and open windows"
