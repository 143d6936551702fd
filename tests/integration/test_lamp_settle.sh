#!/usr/bin/env bash
# wardgw-test: long (waits out the lamps' 20 s settle times, twice: started first)
# Lamps take time to come on and go out (LED fade, HID warm-up): after a
# switch the gateway waits for each cabinet's settle time before it judges
# lamp failure and day burner. The simulator's lamps follow every switch 20 s
# late: the switch-on of cab-001 raises no false lamp failure and the
# switch-off of cab-002 no false day burner during those 20 s; a lamp that is
# really dead is raised right after the settle time, not before; a supply dip
# starts the (HID) restrike time again.
. "$(dirname "$0")/lib.sh"

BASE=$(free_port 2) CTL=$(free_port) MQ=$(free_port)
SIM_CTL=$CTL
start_mosquitto "$MQ"
# the simulated cabinets' own programme is off at noon: cab-001 starts dark
NOON=$(date -u -d "today 05:00" +%s)
start_sim --base-port "$BASE" --cabinets 2 --sdm120 0 --dds238 0 --obey --steady --failure-rate 0 \
	--control "$CTL" --start "$NOON"
write_config "$T/gw.conf" "$MQ" \
	"{ name = \"cab\"; count = 2; profile = \"lighting-cabinet\"; host = \"127.0.0.1\"; port = $BASE;
	   lamp_type = \"hid\"; settle_s = 22; restrike_s = 22; }" "
events = { hold_s = 1; };
lighting = {
  programs = ( { name = \"on\"; points = ( { at = \"12:00\"; level = 100; } ); },
               { name = \"dark\"; points = ( { at = \"12:00\"; level = 0; } ); } );
  calendar = ( { devices = [ \"cab-002\" ]; program = \"dark\"; }, { program = \"on\"; } );
};"
"$WARDGW" check -c "$T/gw.conf" > "$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"
lamps_on() { sim_ctl get "$1" | sed -n 's/^lampsOn=//p'; }
# cab-002 lit before the gateway starts (its schedule will switch it off)
"$WARDGW" write -c "$T/gw.conf" --device cab-002 --metric targetLightCommand --value 1 > "$T/write.out" 2>&1 \
	|| fail "wardgw write: $(cat "$T/write.out")"
wait_for 5 '[ "$(lamps_on 1)" -gt 0 ]' || fail "cab-002 not lit: $(sim_ctl get 1)"
sim_ctl set 0 switch_delay 20 > /dev/null
sim_ctl set 1 switch_delay 20 > /dev/null
sim_ctl fail 0 3 > /dev/null            # one lamp of cab-001 is really dead
[ "$(lamps_on 0)" = 0 ] || fail "cab-001 lit before the switch: $(sim_ctl get 0)"

mosquitto_sub -p "$MQ" -t 'ward/gw-test/event/alarm' -q 1 > "$T/alarms.txt" 2> "$T/sub.log" &
PIDS="$PIDS $!"
start_gateway "$T/gw.conf"
wait_until 10 grep -q "lighting cab-001: .*100 % written and read back" "$T/gateway.log" || fail "cab-001 not switched on"
wait_until 10 grep -q "lighting cab-002: .*0 % written and read back" "$T/gateway.log" || fail "cab-002 not switched off"
t_on=$(date +%s)
alarm() { grep "\"subject\":\"$1\",\"alarm\":\"$2\",\"state\":\"$3\"" "$T/alarms.txt" | tail -1; }

# during the warm-up: cab-001 dark, cab-002 still lit, and the gateway polls them
wait_for 10 '[ "$(sim_ctl served 0 | sed -n "s/^served=//p")" -ge 5 ]' || fail "cab-001 not polled"
[ "$(lamps_on 0)" = 0 ] && [ "$(lamps_on 1)" -gt 0 ] || fail "the lamps did not wait: $(lamps_on 0) $(lamps_on 1)"
ok "warm-up: 5 s after the switch cab-001 is still dark and cab-002 still lit"

# the lamps follow after 20 s; the gateway judges again after 22 s
for c in cab-001 cab-002; do
	wait_until 40 grep -q "alarm $c: lamps settled (switched)" "$T/gateway.log" || fail "$c: never settled"
done
t_settled=$(date +%s)
[ $((t_settled - t_on)) -ge 20 ] || fail "settled after $((t_settled - t_on)) s, before the 22 s settle time"
wait_for 10 '[ -n "$(alarm cab-001 lampFailure raised)" ]' || fail "the dead lamp was not raised after the settle time"
alarm cab-001 lampFailure raised | jq -e '.lamps == 1' > /dev/null || fail "lampFailure: $(alarm cab-001 lampFailure raised)"
since=$(alarm cab-001 lampFailure raised | jq .since)
[ "$since" -ge $((t_on + 20)) ] || fail "lampFailure since $since, inside the settle time (switch at $t_on)"
grep -q '"lamps":[0-9][0-9]' "$T/alarms.txt" && fail "a false alarm for many lamps: $(cat "$T/alarms.txt")"
[ -z "$(alarm cab-002 lampUnexpectedOn raised)" ] || fail "false day burner on cab-002: $(alarm cab-002 lampUnexpectedOn raised)"
ok "after the settle time: the one dead lamp raised ($((since - t_on)) s after the switch), no false lamp failure or day burner"

# a supply dip: the lamps restrike (20 s in the simulator); the gateway waits restrike_s
sim_ctl set 0 supply_lost 1 > /dev/null
wait_for 10 '[ -n "$(alarm cab-001 supplyLoss raised)" ]' || fail "no supplyLoss"
t_ret=$(date +%s%3N)
sim_ctl set 0 supply_lost 0 > /dev/null
wait_until 40 grep -q "alarm cab-001: lamps settled (supply returned)" "$T/gateway.log" || fail "never settled after the dip"
# not at once: the line's own time is the restrike time after the return
t_set=$(date -d "$(grep -m1 "alarm cab-001: lamps settled (supply returned)" "$T/gateway.log" | cut -c1-23)" +%s%3N) ||
	fail "no time on the settled line"
[ $((t_set - t_ret)) -ge 21000 ] || fail "settled $((t_set - t_ret)) ms after the supply returned, within restrike_s (22 s)"
wait_for 10 '[ -n "$(alarm cab-001 supplyLoss cleared)" ]' || fail "supplyLoss not cleared"
"$WARDGW" alarms -c "$T/gw.conf" > "$T/alarms.out" || fail "wardgw alarms failed"
grep -q "(active) *cab-001 *lampFailure .* 1  " "$T/alarms.out" || fail "the lamp failure grew during the restrike: $(cat "$T/alarms.out")"
[ "$(grep -c '"alarm":"lampFailure","state":"raised"' "$T/alarms.txt")" = 1 ] || fail "lamp failure raised again: $(cat "$T/alarms.txt")"
ok "supply dip: no lamp failure for the lamps restriking; the one dead lamp still the only one"
