#!/usr/bin/env bash
# The schedule on the running gateway: on connect each cabinet is brought to
# the level the schedule wants (here 40 % all day), an override for one
# group starts and expires on time (80 % for a few seconds, then 40 % again),
# a cabinet that restarts (the simulator restarted, so its level is lost) is
# brought back, and every write is in `wardgw audit`. Levels are checked in
# the simulator's own register (holding 0x0010, percent).
. "$(dirname "$0")/lib.sh"

BASE=$(free_port 2) CTL=$(free_port) MQ=$(free_port)
SIM_CTL=$CTL
start_mosquitto "$MQ"
SIMARGS="--base-port $BASE --cabinets 2 --sdm120 0 --dds238 0 --obey --control $CTL"
start_sim $SIMARGS
now=$(date +%s)
iso() { date -d "@$1" '+%Y-%m-%dT%H:%M:%S+00:00' -u; }
write_config "$T/gw.conf" "$MQ" \
	"{ name = \"cab\"; count = 2; profile = \"lighting-cabinet\"; host = \"127.0.0.1\"; port = $BASE; }" "
groups = ( { name = \"north\"; devices = [ \"cab-001\" ]; } );
lighting = {
  retry_s = 5;
  programs = ( { name = \"steady\"; points = ( { at = \"12:00\"; level = 40; } ); } );
  calendar = ( { program = \"steady\"; } );
  overrides = ( { group = \"north\"; level = 80; start = \"$(iso $((now + 6)))\"; expires = \"$(iso $((now + 10)))\";
                  reason = \"test\"; } );
};"
"$WARDGW" check -c "$T/gw.conf" > "$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"
"$WARDGW" schedule -c "$T/gw.conf" > "$T/schedule.out" || fail "wardgw schedule failed"
grep -q "sunset [0-9][0-9]:[0-9][0-9]" "$T/schedule.out" && grep -q "program steady for cab-001, cab-002" "$T/schedule.out" \
	&& grep -q "config group  north .* 80 %" "$T/schedule.out" || fail "schedule output: $(cat "$T/schedule.out")"
ok "wardgw schedule prints the Sun, the program and its devices, and the override"

level() { sim_ctl reg "$1" holding 0x10 | sed -n 's/^0x0010=//p'; }
start_gateway "$T/gw.conf"
wait_for 10 '[ "$(level 0)" = 0x0028 ] && [ "$(level 1)" = 0x0028 ]' \
	|| fail "cabinets not at 40 % after connect: $(level 0) $(level 1)"
ok "on connect both cabinets are written to 40 % (read back)"

wait_for 12 '[ "$(level 0)" = 0x0050 ]' || fail "override did not start: cab-001 at $(level 0)"
[ "$(level 1)" = 0x0028 ] || fail "the override for group north touched cab-002: $(level 1)"
ok "override for group north: cab-001 at 80 %, cab-002 stays at 40 %"
wait_for 12 '[ "$(level 0)" = 0x0028 ]' || fail "override did not expire: cab-001 at $(level 0)"
[ "$(date +%s)" -ge $((now + 10)) ] || fail "override ended early"
ok "override expired: cab-001 back to 40 %"

# the cabinets restart: their level is lost (0) until the gateway reconnects
stop_pid "$SIM_PID"
wait_until 10 grep -q "device cab-001: offline" "$T/gateway.log" || fail "gateway did not see cab-001 go"
start_sim $SIMARGS
wait_for 15 '[ "$(level 0)" = 0x0028 ] && [ "$(level 1)" = 0x0028 ]' \
	|| fail "after the cabinets restarted: $(level 0) $(level 1)"
ok "after a restart of the cabinets the gateway writes the wanted level again"

"$WARDGW" audit -c "$T/gw.conf" --last 50 > "$T/audit.out" || fail "wardgw audit failed"
[ "$(grep -c ' schedule .* cab-00[12] .*40 %  done .*program steady at 12:00' "$T/audit.out")" -ge 4 ] \
	|| fail "audit lacks the schedule writes: $(cat "$T/audit.out")"
grep -q ' schedule .* cab-001 .*80 %  done .*override -1 (group north): test' "$T/audit.out" \
	|| fail "audit lacks the override write: $(cat "$T/audit.out")"
ok "wardgw audit lists every schedule write with its reason"
