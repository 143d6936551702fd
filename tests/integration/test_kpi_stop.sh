#!/usr/bin/env bash
# Issue 15 items 1 and 2: a KPI window open when the gateway dies. Started a
# few seconds after a minute boundary on a new database, SIGKILLed about ten
# seconds before the next one, started again after it: the window is
# computed when the gateway is back, published with the next sequence
# number, and says how much of it the gateway saw (n samples, covered
# seconds); availability counts the time the gateway was not there as
# neither online nor offline. Before, the window never appeared. The
# gateway's wall clock is driven (lib.sh): the test moves it to a few
# seconds after a boundary, lets the gateway poll 18 s, moves it to about
# ten seconds before the next boundary, kills it, and moves it past the
# boundary; what took 100 s of waiting takes 20.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) BASE=$(free_port 2)
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 2 --sdm120 0 --dds238 0
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab\"; count = 2; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; }" "
kpis = (
  { name = \"power\"; aggregate = \"sum\"; metric = \"activePower\"; window = \"1m\"; },
  { name = \"online\"; aggregate = \"availability\"; window = \"1m\"; target = { op = \">=\"; value = 0.99; }; }
);"
mosquitto_sub -h 127.0.0.1 -p "$MQ" -v -t 'ward/gw-test/kpi/#' > "$T/sub.txt" 2>/dev/null &
PIDS="$PIDS $!"
wait_until 10 port_busy "$MQ" || fail "no broker"
gw_s() { echo $(( $(gw_wall_ms) / 1000 )); }   # the gateway's wall time, s
alive() { sqlite3 "file:$T/data/wardgw.db?mode=ro" "SELECT value FROM meta WHERE key = 'gateway_alive'" 2>/dev/null; }
# a few seconds after a boundary
clock_drive
clock_to_second 3
W=$(( $(gw_s) / 60 * 60 ))
started=$(gw_s)
start_gateway "$T/gw.conf"
wait_until 20 grep -q 'connected (session' "$T/gateway.log" || fail "gateway did not connect"
# 18 s of polls of both cabinets, then about ten seconds before the next
# boundary, within the same window: killed once its last sign of life
# says so (the mark is written every second)
wait_for 30 '[ "$(( $(gw_s) - started ))" -ge 18 ]' || fail "clock"
clock_to_second 49
wait_for 10 '[ "$(alive)" -ge $(( (W + 49) * 1000 )) ] 2>/dev/null' || fail "no sign of life at second 49: $(alive)"
[ $(( $(gw_s) / 60 * 60 )) = "$W" ] || fail "the window changed while the gateway ran"
kill -9 "$GW_PID"; wait "$GW_PID" 2>/dev/null
killed=$(gw_s)
# started again after the boundary
clock_to_second 3
[ $(( $(gw_s) / 60 * 60 )) -gt "$W" ] || fail "clock"
mv "$T/gateway.log" "$T/gateway-1.log"
start_gateway "$T/gw.conf"
wait_until 20 grep -q 'connected (session' "$T/gateway.log" || fail "gateway did not connect after the restart"

win() { # KPI: its message for the window starting at W
	grep '^ward/gw-test/kpi/lighting ' "$T/sub.txt" | cut -d' ' -f2- |
		jq -c --arg k "$1" --argjson w "$W" 'select(.[0].n == $k and (.[] | select(.n == ($k + "/start")) | .v) == $w)'
}
field() { jq -r --arg n "$2" '.[] | select(.n == $n) | (.v // .vs)' <<< "$1"; }
wait_for 40 '[ -n "$(win power)" ] && [ -n "$(win online)" ]' || fail "the window open at the SIGKILL was never published: $(cat "$T/sub.txt")"
p=$(win power) o=$(win online)
seq=$(field "$p" power/seq) n=$(field "$p" power/n) cov=$(field "$p" power/covered)
[ "$seq" = 1 ] || fail "power window seq $seq"
awk -v n="$n" 'BEGIN { exit !(n >= 2 * 15) }' || fail "power window n=$n samples"
want=$(( killed - started ))   # whole seconds, from before the exec to after the kill
awk -v c="$cov" -v w="$want" 'BEGIN { exit !(c >= w - 8 && c <= w + 1) }' || fail "covered $cov s, the gateway ran about $want s"
ok "the window open at the SIGKILL was published after the restart: seq $seq, n=$n samples, covered $cov s of 60"
av=$(field "$o" online) avn=$(field "$o" online/n)
awk -v a="$(jq '.[0].v' <<< "$o")" 'BEGIN { exit !(a > 0.95) }' || fail "availability $(jq -c '.[0]' <<< "$o") n=$avn"
[ "$avn" = 2 ] || fail "availability over $avn devices"
grep -q 'kpi: the previous run ended without a stop; its last sign of life was' "$T/gateway.log" || fail "the crash was not noticed"
ok "availability of that window: $(jq '.[0].v' <<< "$o") over $avn devices (the gateway's downtime counts for neither)"

# wardgw kpi: whole window ends, covered seconds, no stray 0 on open windows
"$WARDGW" kpi -c "$T/gw.conf" --kpi power --last 5 > "$T/kpi.txt" || fail "wardgw kpi"
grep -Eq "^power .*T[0-9:]{8} \.\. [0-9:]{8}\+07:00 .* n=[0-9]+ covered=[0-9]+s seq=1$" "$T/kpi.txt" ||
	fail "wardgw kpi closed window: $(cat "$T/kpi.txt")"
grep -Eq "^power .* open .* n=[0-9]+ covered=[0-9]+s$" "$T/kpi.txt" || fail "wardgw kpi open window: $(cat "$T/kpi.txt")"
ok "wardgw kpi: $(grep seq=1 "$T/kpi.txt" | tr -s ' ')"

# issue 15 item 16: reading the history does not need a valid config
stop_pid "$GW_PID"
echo 'devices_typo = 1;' >> "$T/gw.conf"
"$WARDGW" check -c "$T/gw.conf" > /dev/null 2>&1 && fail "the broken config passed wardgw check"
"$WARDGW" query -c "$T/gw.conf" --device cab-001 --metric activePower --from -10m --format csv > "$T/q.csv" 2> "$T/q.err" ||
	fail "wardgw query refused with a broken config: $(cat "$T/q.err")"
grep -q "unknown key 'devices_typo'" "$T/q.err" && grep -q 'has errors (above); reading the history in .*wardgw.db anyway' "$T/q.err" ||
	fail "wardgw query did not say why: $(cat "$T/q.err")"
[ "$(tail -n +2 "$T/q.csv" | wc -l)" -ge 15 ] || fail "wardgw query with a broken config: $(wc -l < "$T/q.csv") lines"
"$WARDGW" audit -c "$T/gw.conf" > /dev/null 2>&1 || fail "wardgw audit refused with a broken config"
ok "wardgw query and audit read the history while the config has an error ($(tail -n +2 "$T/q.csv" | wc -l) samples)"
