#!/usr/bin/env bash
# Lamp and cabinet alarms on the running gateway, injected through the
# simulator's control port: a lamp failure (raised, then cleared by the
# repair, with its duration and the mean time to repair), a day burner (lamps
# lit while the schedule wants them off), an open door, a supply voltage out
# of bounds and an unreachable cabinet; each raised and cleared as an event
# on event/alarm and kept in the alarm table (wardgw alarms).
. "$(dirname "$0")/lib.sh"

BASE=$(free_port 2) CTL=$(free_port) MQ=$(free_port)
SIM_CTL=$CTL
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 2 --sdm120 0 --dds238 0 --obey --steady --failure-rate 0 --control "$CTL"
write_config "$T/gw.conf" "$MQ" \
	"{ name = \"cab\"; count = 2; profile = \"lighting-cabinet\"; host = \"127.0.0.1\"; port = $BASE; settle_s = 1; }" "
events = { hold_s = 1; };
lighting = {
  programs = ( { name = \"on\"; points = ( { at = \"12:00\"; level = 100; } ); },
               { name = \"dark\"; points = ( { at = \"12:00\"; level = 0; } ); } );
  calendar = ( { devices = [ \"cab-002\" ]; program = \"dark\"; }, { program = \"on\"; } );
  alarms = { voltage_min = 207.0; voltage_max = 253.0; power_factor_min = 0.85; };
};"
"$WARDGW" check -c "$T/gw.conf" > "$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"
mosquitto_sub -p "$MQ" -t 'ward/gw-test/event/alarm' -q 1 > "$T/alarms.txt" 2> "$T/sub.log" &
PIDS="$PIDS $!"
start_gateway "$T/gw.conf"
level() { sim_ctl reg "$1" holding 0x10 | sed -n 's/^0x0010=//p'; }
wait_for 10 '[ "$(level 0)" = 0x0064 ] && [ "$(level 1)" = 0x0000 ]' || fail "schedule not applied: $(level 0) $(level 1)"
wait_until 10 grep -q "mqtt tcp://127.0.0.1:$MQ: connected" "$T/gateway.log" || fail "gateway not connected"
alarm() { grep "\"subject\":\"$1\",\"alarm\":\"$2\",\"state\":\"$3\"" "$T/alarms.txt" | tail -1; }
sleep_poll() { wait_for "$1" "[ -n \"\$(alarm $2 $3 $4)\" ]"; }
served() { sim_ctl served "$1" | sed -n 's/^served=//p'; }
# polls_pass N I: cabinet I has answered N more polls since now (the gateway
# got past the point a negative check looks at)
polls_pass() { local s0; s0=$(served "$2"); wait_for 15 "[ \$(served $2) -ge $((s0 + $1)) ]"; }

# no alarm on a healthy ward: both cabinets were switched to their level,
# their lamps settled and were judged for more than hold_s
for c in cab-001 cab-002; do
	wait_until 15 grep -q "alarm $c: lamps settled" "$T/gateway.log" || fail "$c: no 'lamps settled' after the switch"
done
polls_pass 3 0 || fail "cab-001 not polled"
[ ! -s "$T/alarms.txt" ] || fail "alarms on a healthy ward: $(cat "$T/alarms.txt")"
ok "no alarm on a healthy ward after the switch-on (lamps settled, then judged)"

# 1. a lamp fails while scheduled on, and is repaired
sim_ctl fail 0 3 > /dev/null
sleep_poll 10 cab-001 lampFailure raised || fail "no lampFailure: $(cat "$T/alarms.txt")"
alarm cab-001 lampFailure raised | jq -e '.lamps == 1 and (.detail | test("1 of [0-9]+ lamps give no light while scheduled on"))' > /dev/null \
	|| fail "lampFailure event: $(alarm cab-001 lampFailure raised)"
ok "injected lamp failure: lampFailure raised for cab-001 (1 lamp)"
sim_ctl repair 0 3 > /dev/null
sleep_poll 10 cab-001 lampFailure cleared || fail "lampFailure not cleared after the repair"
alarm cab-001 lampFailure cleared | jq -e '.duration_s >= 1' > /dev/null || fail "no duration: $(alarm cab-001 lampFailure cleared)"
ok "repaired: lampFailure cleared with its duration"

# 2. a day burner: cab-002 is scheduled off, its contactor sticks
sim_ctl set 1 stuck_on 1 > /dev/null
sleep_poll 10 cab-002 lampUnexpectedOn raised || fail "no day burner alarm: $(cat "$T/alarms.txt")"
alarm cab-002 lampUnexpectedOn raised | jq -e '.lamps > 0' > /dev/null || fail "day burner lamps: $(alarm cab-002 lampUnexpectedOn raised)"
sim_ctl set 1 stuck_on 0 > /dev/null
sleep_poll 10 cab-002 lampUnexpectedOn cleared || fail "day burner not cleared"
ok "day burner: lampUnexpectedOn raised for cab-002 (scheduled off, lamps lit), cleared when they went out"

# 3. cabinet door, supply voltage
sim_ctl set 0 door 1 > /dev/null
sim_ctl set 0 voltage 262 > /dev/null
sleep_poll 10 cab-001 cabinetDoorOpen raised || fail "no cabinetDoorOpen"
sleep_poll 10 cab-001 lampVoltageTooHigh raised || fail "no lampVoltageTooHigh"
sim_ctl set 0 door 0 > /dev/null
sim_ctl set 0 voltage auto > /dev/null
sleep_poll 10 cab-001 cabinetDoorOpen cleared || fail "cabinetDoorOpen not cleared"
sleep_poll 10 cab-001 lampVoltageTooHigh cleared || fail "lampVoltageTooHigh not cleared"
ok "cabinetDoorOpen and lampVoltageTooHigh (262 V > 253 V) raised and cleared"

# 4. unreachable
sim_ctl mute 1 > /dev/null
sleep_poll 15 cab-002 deviceUnreachable raised || fail "no deviceUnreachable"
sim_ctl unmute 1 > /dev/null
sleep_poll 15 cab-002 deviceUnreachable cleared || fail "deviceUnreachable not cleared"
ok "deviceUnreachable raised while cab-002 did not answer, cleared when it did"

# hysteresis: one lamp failing for less than hold_s raises nothing
n0=$(grep -c lampFailure "$T/alarms.txt")
sim_ctl fail 0 5 > /dev/null; sim_ctl repair 0 5 > /dev/null
polls_pass 3 0 || fail "cab-001 not polled"   # (2 polls past hold_s to wrongly raise it)
[ "$(grep -c lampFailure "$T/alarms.txt")" = "$n0" ] || fail "a failure shorter than hold_s raised an alarm"
ok "hysteresis: a failure repaired within hold_s raises nothing"

"$WARDGW" alarms -c "$T/gw.conf" > "$T/alarms.out" || fail "wardgw alarms failed"
for a in lampFailure lampUnexpectedOn cabinetDoorOpen lampVoltageTooHigh deviceUnreachable; do
	grep -q " $a .* s  " "$T/alarms.out" || fail "wardgw alarms lacks a cleared $a: $(cat "$T/alarms.out")"
done
grep -q "lampFailure  *1 alarms (1 lamps) *MTTR [0-9]* s" "$T/alarms.out" || fail "no MTTR: $(cat "$T/alarms.out")"
ok "wardgw alarms lists them with durations, and the mean time to repair per kind"
