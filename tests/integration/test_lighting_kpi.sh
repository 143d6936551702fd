#!/usr/bin/env bash
# Lighting KPIs for a simulated night from known inputs, through the KPI
# engine, in 1-minute windows: two cabinets (simulator --steady: exact
# power, lamps x rated W x level), cab-001 scheduled at 100 % with one lamp
# failed, cab-002 dimmed to 50 %. Expected, with N1, N2 lamps installed:
#   lamps installed N1+N2, lamps on N1-1+N2, failure ratio 1/(N1+N2),
#   night availability (lit / scheduled lamp-hours) (N1-1+N2)/(N1+N2),
#   day burners 0, and dimming savings 1 - E/(P_rated x scheduled hours)
#   = 1 - (N1-1 + N2/2)/(N1+N2), within the meter's 0.01 kWh resolution.
# The gateway's wall clock is driven (lib.sh): it starts a second into a
# minute, polls for 25 s, and the test moves it to the next minute, which
# closes the window a few seconds later instead of at the real minute's end.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) BASE=$(free_port 2) SIM_CTL=$(free_port)
W=2000
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 2 --sdm120 0 --dds238 0 --control "$SIM_CTL" --obey --steady \
	--failure-rate 0 --lamp-watts $W
sim_ctl fail 0 0 > /dev/null || fail "sim fail"
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab\"; count = 2; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; }" "
lighting = {
  lamp_rated_w = $W;
  programs = ( { name = \"full\"; points = ( { at = \"12:00\"; level = 100; } ); },
               { name = \"half\"; points = ( { at = \"12:00\"; level = 50; } ); } );
  calendar = ( { devices = [ \"cab-002\" ]; program = \"half\"; }, { program = \"full\"; } );
};
kpis = (
  { name = \"installed\"; aggregate = \"last\"; metric = \"lampsInstalled\"; window = \"1m\"; },
  { name = \"on\"; aggregate = \"last\"; metric = \"lampsOn\"; window = \"1m\"; },
  { name = \"failure_ratio\"; aggregate = \"ratio\"; metric = \"lampsFailed\"; denominator = \"lampsInstalled\"; window = \"1m\";
    target = { op = \"<=\"; value = 0.01; }; },
  { name = \"faulty_ratio\"; aggregate = \"ratio\"; metric = \"lampsFaulty\"; denominator = \"lampsKnown\"; window = \"1m\"; },
  { name = \"night_availability\"; aggregate = \"ratio\"; metric = \"lampsLitScheduled\"; denominator = \"lampsScheduled\";
    window = \"1m\"; target = { op = \">=\"; value = 0.99; }; },
  { name = \"day_burners\"; aggregate = \"last\"; metric = \"lampsDayBurning\"; window = \"1m\"; },
  { name = \"energy\"; aggregate = \"delta\"; metric = \"activeEnergy\"; window = \"1m\"; },
  { name = \"rated\"; aggregate = \"delta\"; metric = \"ratedEnergyScheduled\"; window = \"1m\"; },
  { name = \"savings\"; aggregate = \"savings\"; metric = \"activeEnergy\"; denominator = \"ratedEnergyScheduled\";
    window = \"1m\"; target = { op = \">=\"; value = 0.3; }; },
  { name = \"mttr\"; aggregate = \"mttr\"; metric = \"lampFailure\"; window = \"1m\"; unit = \"s\"; }
);"
"$WARDGW" check -c "$T/gw.conf" > "$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"
# the cabinets are at the schedule's levels from the first poll on (the
# gateway would write them on connect, a poll or two in)
"$WARDGW" write -c "$T/gw.conf" --device cab-001 --metric targetLightCommand --value 1 > /dev/null || fail "write cab-001"
"$WARDGW" write -c "$T/gw.conf" --device cab-002 --metric targetLightCommand --value 0.5 > /dev/null || fail "write cab-002"
mosquitto_sub -h 127.0.0.1 -p "$MQ" -v -t 'ward/gw-test/kpi/#' > "$T/sub.txt" 2>/dev/null &
PIDS="$PIDS $!"
clock_drive
clock_next_minute 1000
start_gateway "$T/gw.conf"
n1=$(sim_ctl get 0 | sed -n 's/^lampsInstalled=//p')
n2=$(sim_ctl get 1 | sed -n 's/^lampsInstalled=//p')
[ -n "$n1" ] && [ -n "$n2" ] || fail "simulator lamp counts"

# the first window the gateway saw for at least 10 s (one that closed right
# after the start holds a poll of one cabinet only)
kpi() { grep '^ward/gw-test/kpi/lighting ' "$T/sub.txt" | cut -d' ' -f2- |
	jq -c --arg k "$1" 'select(.[0].n == $k and any(.[]; .n == ($k + "/covered") and .v >= 10))' | head -1; }
val() { kpi "$1" | jq '.[0].v'; }
# 25 s of polls of both cabinets (the meter's 0.01 kWh steps are a few
# per cent of that), then the window is closed by moving to the next minute
energy_samples() { "$WARDGW" query -c "$T/gw.conf" --all | grep -c ',activeEnergy,'; }
wait_for 60 '[ "$(energy_samples)" -ge 50 ]' || fail "fewer than 50 energy samples in 60 s: $(energy_samples)"
clock_next_minute
wait_for 20 '[ -n "$(kpi savings)" ] && [ -n "$(kpi night_availability)" ] && [ -n "$(kpi rated)" ]' \
	|| fail "no lighting KPIs within 20 s of the next minute: $(cut -c1-200 "$T/sub.txt" | head)"
near() { awk -v a="$1" -v b="$2" -v e="$3" 'BEGIN { d = a - b; exit !(d <= e && d >= -e) }'; }

near "$(val installed)" $((n1 + n2)) 0 || fail "installed $(val installed), want $((n1 + n2))"
near "$(val on)" $((n1 - 1 + n2)) 0 || fail "lamps on $(val on), want $((n1 - 1 + n2))"
ok "lamps installed $((n1 + n2)), on $((n1 - 1 + n2))"
want=$(awk -v a="$n1" -v b="$n2" 'BEGIN { printf "%.9f", 1 / (a + b) }')
near "$(val failure_ratio)" "$want" 1e-9 || fail "failure ratio $(val failure_ratio), want $want"
near "$(val faulty_ratio)" "$want" 1e-9 || fail "faulty-or-unreachable ratio $(val faulty_ratio), want $want"
ok "lamp failure ratio $(val failure_ratio) = 1/$((n1 + n2)) (also counting unreachable lamps: $(val faulty_ratio)), status $(kpi failure_ratio | jq -r '.[] | select(.n == "failure_ratio/status") | .vs')"
want=$(awk -v a="$n1" -v b="$n2" 'BEGIN { printf "%.9f", (a - 1 + b) / (a + b) }')
near "$(val night_availability)" "$want" 1e-9 || fail "night availability $(val night_availability), want $want"
ok "night availability $(val night_availability) = lit / scheduled lamp-hours = $((n1 - 1 + n2))/$((n1 + n2))"
near "$(val day_burners)" 0 0 || fail "day burners $(val day_burners)"
ok "day burners 0"

# dimming savings: the engine's value is 1 - energy/rated of the same window ...
e=$(val energy) r=$(val rated) s=$(val savings)
near "$s" "$(awk -v e="$e" -v r="$r" 'BEGIN { printf "%.12f", 1 - e / r }')" 1e-9 || fail "savings $s != 1 - $e/$r"
# ... the rated energy is the scheduled lamps at rated power over the window's polls ...
secs=$(kpi rated | jq '(.[] | select(.n == "rated/end") | .v) - (.[] | select(.n == "rated/start") | .v)')
max=$(awk -v a="$n1" -v b="$n2" -v w=$W -v t="$secs" 'BEGIN { printf "%.6f", (a + b) * w * t / 3.6e6 }')
awk -v r="$r" -v m="$max" 'BEGIN { exit !(r > 0 && r <= m * 1.0001) }' || fail "rated energy $r kWh, at most $max"
# ... and the measured share is what the lamps and levels make, within 0.01 kWh per cabinet
want=$(awk -v a="$n1" -v b="$n2" 'BEGIN { printf "%.9f", 1 - (a - 1 + b / 2) / (a + b) }')
tol=$(awk -v r="$r" 'BEGIN { printf "%.9f", 2 * 0.011 / r }')
near "$s" "$want" "$tol" || fail "savings $s, want $want +- $tol (energy $e kWh, rated $r kWh)"
ok "dimming savings $s = 1 - $e kWh / $r kWh rated; expected $want +- $tol"
[ "$(kpi mttr | jq -r ".[0].vs")" = no_data ] || fail "mttr without repairs: $(kpi mttr)"
ok "MTTR: no_data while no alarm was cleared"
