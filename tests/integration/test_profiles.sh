#!/usr/bin/env bash
# The shipped profiles against the simulator, through the technician's
# tools: `wardgw probe -c --device` prints every metric of an SDM120, an
# SDM630, a DDS238 and the lighting cabinet's two profiles (cabinet level and
# per lamp) equal to what the simulator serves, over Modbus TCP, over RTU
# frames on TCP (--rtu-tcp and framing = "rtu") and on a serial bus (pty);
# `scan --rtu-tcp` and `scan --rtu` find the units that answer.
. "$(dirname "$0")/lib.sh"

BASE=$(free_port 4) GWP=$(free_port) CTL=$(free_port) CTL2=$(free_port)
SIM_CTL=$CTL
# 0 cabinet, 1 SDM120, 2 DDS238, 3 SDM630; on the RTU gateway port units 1-4
start_sim --base-port "$BASE" --cabinets 1 --sdm120 1 --dds238 1 --sdm630 1 --freeze --control "$CTL" \
	--gateway-port "$GWP" --gateway-framing rtu
sim_ctl fail 0 3 > /dev/null || fail "sim fail"
cat > "$T/p.conf" <<EOC
gateway = { id = "p"; ward = "w"; lat = 11.8; lon = 106.9; data_dir = "$T/data"; };
profiles_dir = "$ROOT/config/profiles";
devices = (
  { name = "cab";      host = "127.0.0.1"; port = $BASE;       profile = "lighting-cabinet"; },
  { name = "cab-lamps"; host = "127.0.0.1"; port = $BASE;      profile = "lighting-cabinet-lamps"; poll_interval_ms = 60000; },
  { name = "sdm120";   host = "127.0.0.1"; port = $((BASE + 1)); profile = "sdm120"; },
  { name = "dds238";   host = "127.0.0.1"; port = $((BASE + 2)); profile = "dds238"; },
  { name = "sdm630";   host = "127.0.0.1"; port = $((BASE + 3)); profile = "sdm630"; max_gap = 124; },
  { name = "rtu-sdm630"; host = "127.0.0.1"; port = $GWP; unit = 4; framing = "rtu"; profile = "sdm630"; },
  { name = "rtu-lamps";  host = "127.0.0.1"; port = $GWP; unit = 1; framing = "rtu"; profile = "lighting-cabinet-lamps"; }
);
EOC
"$WARDGW" check -c "$T/p.conf" > "$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"
near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; m = (b < 0 ? -b : b); exit !(d <= 1e-9 * (m > 1 ? m : 1)) }'; }

# compare DEVICE SIM_INDEX get|lamps
compare() {
	"$WARDGW" probe -c "$T/p.conf" --device "$1" > "$T/probe.out" 2> "$T/probe.err" \
		|| fail "probe $1: $(cat "$T/probe.err")"
	n=0
	while IFS='=' read -r metric want; do
		[ -n "$metric" ] || continue
		got=$(awk -v m="$metric" '$1 == m { print $2; q = $4 } END { if (q != "good") print "bad-quality-" q }' "$T/probe.out")
		case "$got" in *bad-quality*|"") fail "$1 $metric: $got ($(grep "^$metric " "$T/probe.out"))";; esac
		near "$got" "$want" || fail "$1 $metric: probe shows $got, the simulator serves $want"
		n=$((n + 1))
	done < <(sim_ctl "$3" "$2")
	[ "$n" -ge 6 ] || fail "$1: only $n metrics compared"
	nm=$(awk 'f && NF { n++ } /^metric/ { f = 1 } END { print n }' "$T/probe.out")
	[ "$nm" = "$n" ] || fail "$1: the profile has $nm metrics, the simulator serves $n"
	ok "$1: $n metrics equal to the simulator's ($(head -1 "$T/probe.out"))"
}
compare cab 0 get
compare cab-lamps 0 lamps
grep -q '^lamp04.lampFailure  *1 ' "$T/probe.out" || fail "failed lamp 4 not shown: $(grep lamp04 "$T/probe.out")"
grep -q '^lamp04.actualLightState  *0 ' "$T/probe.out" || fail "failed lamp 4 lit: $(grep lamp04 "$T/probe.out")"
compare sdm120 1 get
compare dds238 2 get
compare sdm630 3 get
compare rtu-sdm630 3 get
compare rtu-lamps 0 lamps

# --- probe and scan with --rtu-tcp
"$WARDGW" probe --rtu-tcp "127.0.0.1:$GWP" --unit 4 --table input --address 0x0004 --count 2 > "$T/probe.out" \
	2> "$T/probe.err" || fail "probe --rtu-tcp: $(cat "$T/probe.err")"
got=$(awk '/^32-bit/ { on = 1; next } on && $1 == "0x0004" && $2 == "ABCD" { print $5 }' "$T/probe.out")
want=$(sim_ctl get 3 | awk -F= '$1 == "supplyVoltage.L3" { print $2 }')
awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < 1e-4 * b) }' \
	|| fail "probe --rtu-tcp: f32 ABCD $got, served $want: $(cat "$T/probe.out")"
ok "probe --rtu-tcp: SDM630 L3 voltage $got as f32 ABCD (served $want)"
"$WARDGW" probe --rtu-tcp "127.0.0.1:$GWP" --unit 9 --table input --address 0 --count 2 --timeout-ms 200 \
	> /dev/null 2> "$T/probe.err" && fail "probe of a missing unit worked"
grep -q 'unit 9: reading 2 input registers at 0x0000: no reply within 200 ms' "$T/probe.err" || fail "missing unit: $(cat "$T/probe.err")"
"$WARDGW" scan --rtu-tcp "127.0.0.1:$GWP" --units 1-6 --timeout-ms 100 > "$T/scan.out" || fail "scan --rtu-tcp: $(cat "$T/scan.out")"
grep -q '^4 of 6 unit ids answer: 1 2 3 4; 2 no reply' "$T/scan.out" || fail "scan --rtu-tcp: $(cat "$T/scan.out")"
ok "scan --rtu-tcp: $(tail -1 "$T/scan.out")"

# --- a serial bus on a pty: scan --rtu and probe -c of a modbus-rtu device
"$SIM" --rtu-pty "$T/pty" --cabinets 2 --sdm120 0 --dds238 0 --sdm630 1 --dead 1 --line 19200:8N1 --freeze \
	--control "$CTL2" > "$T/sim2.log" 2>&1 &
PIDS="$PIDS $!"
wait_until 10 grep -q ready "$T/sim2.log" || fail "rtu simulator not ready"
PTY=$(cat "$T/pty")
"$WARDGW" scan --rtu "$PTY:19200:8N1" --units 1-5 --timeout-ms 100 > "$T/scan.out" || fail "scan --rtu: $(cat "$T/scan.out")"
grep -q '^2 of 5 unit ids answer: 1 3; 3 no reply' "$T/scan.out" || fail "scan --rtu: $(cat "$T/scan.out")"
ok "scan --rtu $PTY: $(tail -1 "$T/scan.out")"
sed -i "s|^  { name = \"rtu-lamps\";|  { name = \"bus-sdm630\"; driver = \"modbus-rtu\"; serial = \"$PTY\"; baud = 19200; unit = 3; profile = \"sdm630\"; },\n  { name = \"rtu-lamps\";|" "$T/p.conf"
SIM_CTL=$CTL2 compare bus-sdm630 2 get
