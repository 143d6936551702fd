#!/usr/bin/env bash
# A reload that changes every unit of a bus restarts the bus; a bus whose
# worker is inside a read of a dead unit (timeout_ms 2 s) is stopped
# without the loop waiting for that read: every reload is applied in well
# under the read's timeout. The old worker ends its job on its own and the
# new bus waits for the port on its worker, so the live unit keeps
# answering.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) CTL=$(free_port)
start_mosquitto "$MQ"
start_sim --rtu-pty "$T/pty" --cabinets 2 --sdm120 0 --dds238 0 --dead 1 --line 9600:8N1 --control "$CTL"
PTY=$(cat "$T/pty")
[ -c "$PTY" ] || fail "no pty from the simulator ($PTY)"
# conf N: both units' timeouts differ from those of conf N-1, so a reload
# restarts both, and the bus with them
conf() {
	write_config "$T/gw.conf" "$MQ" "
  { name = \"dead\"; driver = \"modbus-rtu\"; serial = \"$PTY\"; baud = 9600; unit = 2; profile = \"lighting-cabinet\";
    poll_interval_ms = 2500; timeout_ms = $((2000 + $1 % 2)); backoff_max_ms = 2500; },
  { name = \"live\"; driver = \"modbus-rtu\"; serial = \"$PTY\"; baud = 9600; unit = 1; profile = \"lighting-cabinet\";
    poll_interval_ms = 2500; timeout_ms = $((300 + $1 % 2)); backoff_max_ms = 2500; }"
}
conf 0
start_gateway "$T/gw.conf"
wait_for 20 '[ "$(sample_count "$T/gw.conf" live lampsOn)" -ge 1 ]' || fail "no samples from the live unit"
applied() { grep -c 'reload: config .* applied' "$T/gateway.log"; }
for i in 1 2 3 4 5 6 7 8; do
	# the dead unit is first on the bus: its 2 s read starts at once after
	# a restart (or at its kept slot), so most reloads come during one
	sleep 0.$((RANDOM % 5 + 3))
	conf "$i"
	kill -HUP "$GW_PID"
	wait_for 10 '[ "$(applied)" -ge '"$i"' ]' || fail "reload $i not applied"
done
[ "$(grep -c 'reload: config .* applied.* 0 devices kept running, 0 added, 0 removed, 2 restarted' "$T/gateway.log")" -eq 8 ] \
	|| fail "every reload should restart both units: $(grep 'reload: config' "$T/gateway.log")"
worst=$(sed -n 's/.*reload: config .* applied in \([0-9.]*\) ms.*/\1/p' "$T/gateway.log" | sort -n | tail -1)
echo "   8 reloads during dead-unit reads of up to 2 s: slowest applied in $worst ms"
awk -v w="$worst" 'BEGIN { exit !(w < 300) }' || fail "a reload waited $worst ms for the bus's read in flight"
n0=$(sample_count "$T/gw.conf" live lampsOn)
wait_for 15 '[ "$(sample_count "$T/gw.conf" live lampsOn)" -ge $((n0 + 2)) ]' || fail "the live unit stopped answering after the reloads"
made=$(grep -c "modbus-rtu $PTY .*: 2 units" "$T/gateway.log")
[ "$made" -eq 9 ] || fail "the bus should have been made 9 times (start and 8 restarts), not $made"
ok "8 reloads while a 2 s read was on the bus: slowest applied in $worst ms; the bus made anew each time; the live unit answers after"
stop_pid "$GW_PID"
grep -q 'clean\|stopping' "$T/gateway.log" || true
