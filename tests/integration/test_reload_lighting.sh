#!/usr/bin/env bash
# Reload beside the lighting schedule: the schedule keeps per-device state
# made at start-up, so a reload may add or change devices it does not
# control (they follow it by name into the new device table: after the
# reload a cabinet that restarts is still brought back to its level), but a
# reload that would remove or change a controlled cabinet is refused with a
# clear line, and the running configuration stays.
. "$(dirname "$0")/lib.sh"

BASE=$(free_port 4) CTL=$(free_port) MQ=$(free_port)
SIM_CTL=$CTL
start_mosquitto "$MQ"
SIMARGS="--base-port $BASE --cabinets 2 --sdm120 2 --dds238 0 --obey --control $CTL"
start_sim $SIMARGS
LIGHTING='lighting = {
  retry_s = 5;
  programs = ( { name = "steady"; points = ( { at = "12:00"; level = 40; } ); } );
  calendar = ( { program = "steady"; } );
};'
devs() {   # devs CABINETS METERS
	echo "{ name = \"cab\"; count = $1; profile = \"lighting-cabinet\"; host = \"127.0.0.1\"; port = $BASE; }"
	for i in $(seq "$2"); do
		echo ", { name = \"sdm-00$i\"; profile = \"sdm120\"; host = \"127.0.0.1\"; port = $((BASE + 1 + i)); }"
	done
}
write_config "$T/gw.conf" "$MQ" "$(devs 2 1)" "$LIGHTING"
"$WARDGW" check -c "$T/gw.conf" > "$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"
level() { sim_ctl reg "$1" holding 0x10 | sed -n 's/^0x0010=//p'; }
start_gateway "$T/gw.conf"
wait_for 15 '[ "$(level 0)" = 0x0028 ] && [ "$(level 1)" = 0x0028 ]' \
	|| fail "cabinets not at 40 % after connect: $(level 0) $(level 1)"

# a meter added: applied, the cabinets kept
write_config "$T/gw.conf" "$MQ" "$(devs 2 2)" "$LIGHTING"
kill -HUP "$GW_PID"
wait_until 10 grep -q 'reload: config .* applied' "$T/gateway.log" || fail "reload not applied: $(grep reload: "$T/gateway.log")"
grep -q 'applied in .* 3 devices kept running, 1 added' "$T/gateway.log" || fail "reload: $(grep reload: "$T/gateway.log")"
wait_for 20 '[ "$(sample_count "$T/gw.conf" sdm-002 supplyVoltage)" -ge 2 ]' || fail "the added meter has no samples"
ok "a meter added beside two scheduled cabinets; they kept running"

# the schedule follows its cabinets into the new table: they restart
# (their level is lost) and the gateway writes it again
stop_pid "$SIM_PID"
wait_until 10 grep -q "device cab-001: offline" "$T/gateway.log" || fail "gateway did not see cab-001 go"
start_sim $SIMARGS
wait_for 20 '[ "$(level 0)" = 0x0028 ] && [ "$(level 1)" = 0x0028 ]' \
	|| fail "after the reload and a restart of the cabinets: $(level 0) $(level 1)"
ok "after the reload the schedule still brings restarted cabinets back to 40 %"

# a scheduled cabinet removed: refused, the running configuration stays
write_config "$T/gw.conf" "$MQ" "$(devs 1 2)" "$LIGHTING"
kill -HUP "$GW_PID"
wait_until 10 grep -q 'device cab-00[12], which the lighting schedule controls, cannot change while running' \
	"$T/gateway.log" || fail "removing a scheduled cabinet was not refused: $(grep reload "$T/gateway.log" | tail -3)"
n=$(sample_count "$T/gw.conf" cab-002 lampsOn)
wait_for 10 "[ \"\$(sample_count \"$T/gw.conf\" cab-002 lampsOn)\" -gt $n ]" || fail "cab-002 stopped after a refused reload"
ok "removing a scheduled cabinet by reload is refused; it keeps polling"
stop_pid "$GW_PID"
grep -q 'ERROR: AddressSanitizer' "$T/gateway.log" && fail "sanitizer report"
ok "clean stop"
