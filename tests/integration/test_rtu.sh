#!/usr/bin/env bash
# Serial RTU through a pseudo-terminal: the simulator serves three cabinets
# as units 1-3 of one RS-485 bus at 9600 baud (replies take their wire time),
# unit 2 dead. The gateway's modbus-rtu driver polls them through one bus
# worker: units 1 and 3 keep their schedule with the right values, unit 2
# goes offline and is backed off. Writes go over the bus and are read back.
# A gateway set to the wrong baud rate reports CRC errors, one set to the
# wrong frame (stop bits; a pty cannot show parity) reports that no unit
# answers, naming the line settings to check.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) CTL=$(free_port)
SIM_CTL=$CTL
start_mosquitto "$MQ"
# unit 4 an SDM120 that refuses reads across its unused addresses (--holes)
start_sim --rtu-pty "$T/pty" --cabinets 3 --sdm120 1 --dds238 0 --dead 1 --line 9600:8N1 --freeze \
	--control "$CTL" --turnaround-ms 2 --holes
PTY=$(cat "$T/pty")
[ -c "$PTY" ] || fail "no pty from the simulator ($PTY)"
mkdir -p "$T/profiles"
cp "$ROOT"/config/profiles/*.conf "$T/profiles/"
cat > "$T/profiles/rtuwrite.conf" <<'EOP'
profile = {
  name = "rtuwrite"; write_function = 16;
  registers = (
    { metric = "setpoint"; table = "holding"; address = 0x0100; type = "u16"; writable = true; },
    { metric = "level";    table = "holding"; address = 0x0102; type = "f32"; order = "CDAB"; writable = true; },
    { metric = "relay";    table = "coil";    address = 0x0100; type = "bit"; writable = true; }
  );
};
EOP
# rtu_config FILE BAUD STOP EXTRA_DEVICES
rtu_config() {
	write_config "$1" "$MQ" "
  { name = \"bus-cab\"; driver = \"modbus-rtu\"; serial = \"$PTY\"; baud = $2; parity = \"N\"; stop_bits = $3;
    unit = 1; count = 3; profile = \"lighting-cabinet\"; poll_interval_ms = 500; timeout_ms = 300;
    backoff_max_ms = 4000; } ${4:-}"
	sed -i "s|^profiles_dir = .*|profiles_dir = \"$T/profiles\";|" "$1"
}
rtu_config "$T/gw.conf" 9600 1 ",
  { name = \"bus-sdm\"; driver = \"modbus-rtu\"; serial = \"$PTY\"; baud = 9600; parity = \"N\"; unit = 4;
    profile = \"sdm120\"; max_gap = 124; poll_interval_ms = 2000; timeout_ms = 300; }"
"$WARDGW" check -c "$T/gw.conf" > "$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"
start_gateway "$T/gw.conf"
wait_until 15 grep -q 'device bus-cab-002: offline: no reply within 300 ms' "$T/gateway.log" \
	|| fail "the dead unit 2 did not go offline with its reason"
ok "unit 2 offline: $(grep -o 'bus-cab-002: offline.*' "$T/gateway.log" | head -1)"

# --- 1. the two live units keep their schedule: 500 ms, so ~20 polls in 10 s
n1=$(sample_count "$T/gw.conf" bus-cab-001 lampsOn) n3=$(sample_count "$T/gw.conf" bus-cab-003 lampsOn)
d0=$(sim_ctl served 1 | cut -d= -f2)
t0=$SECONDS
# 10 s on the gateway's schedule: 20 more polls of unit 1 stored (then the
# rates below are checked against the time that took)
wait_for 30 '[ "$(sample_count "$T/gw.conf" bus-cab-001 lampsOn)" -ge $((n1 + 20)) ]' || fail "unit 1: no 20 polls in 30 s"
m1=$(sample_count "$T/gw.conf" bus-cab-001 lampsOn) m3=$(sample_count "$T/gw.conf" bus-cab-003 lampsOn)
d1=$(sim_ctl served 1 | cut -d= -f2)
secs=$((SECONDS - t0))
[ $((m1 - n1)) -ge $((secs * 2 - 3)) ] || fail "unit 1: $((m1 - n1)) polls in $secs s, not every 500 ms"
[ $((m3 - n3)) -ge $((secs * 2 - 3)) ] || fail "unit 3: $((m3 - n3)) polls in $secs s, not every 500 ms"
[ $((d1 - d0)) -le 6 ] || fail "dead unit 2 asked $((d1 - d0)) times in $secs s: no backoff"
ok "units 1 and 3: $((m1 - n1)) and $((m3 - n3)) polls in $secs s; dead unit 2 asked $((d1 - d0)) times"
grep -q 'device bus-cab-00[13]: \(offline\|degraded\)' "$T/gateway.log" && fail "a live unit went bad: $(grep 'bus-cab-00[13]' "$T/gateway.log")"

# --- 2. the values are what the simulator serves
for m in lampsInstalled supplyVoltage activeEnergy activePower; do
	for u in 1 3; do
		want=$(sim_ctl get $((u - 1)) | awk -F= -v m="$m" '$1 == m { print $2 }')
		got=$("$WARDGW" query -c "$T/gw.conf" --device "bus-cab-00$u" --metric "$m" --from -1h | tail -1 | cut -d, -f3)
		awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-6 * (b < 0 ? -b : b) + 1e-9) }' \
			|| fail "unit $u $m: stored $got, served $want"
	done
done
ok "lampsInstalled, supplyVoltage, activeEnergy (u32 CDAB), activePower (f32) of units 1 and 3 as served"

# --- 2b. exception 0x02 for a gapped read: the fallback, on the bus too
grep -q 'modbus bus-sdm: exception 0x02 for .* input from 0x0000 across unused addresses: reading that range without gaps' \
	"$T/gateway.log" || fail "no 0x02 fallback on the bus: $(grep bus-sdm "$T/gateway.log")"
grep -q 'device bus-sdm: \(offline\|degraded\)' "$T/gateway.log" && fail "bus-sdm went bad: $(grep bus-sdm "$T/gateway.log")"
want=$(sim_ctl get 3 | awk -F= '$1 == "frequency" { print $2 }')
got=$("$WARDGW" query -c "$T/gw.conf" --device bus-sdm --metric frequency --from -1h | tail -1 | cut -d, -f3)
awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-6 * b) }' || fail "bus-sdm frequency $got, served $want"
ok "unit 4 refused a gapped read (0x02): read without gaps from then on, frequency $got as served"
stop_pid "$GW_PID"

# --- 3. writes over the bus (function 16 and 15), read back
cat > "$T/w.conf" <<EOC
gateway = { id = "gw-w"; ward = "w"; lat = 11.8; lon = 106.9; data_dir = "$T/wdata"; };
mqtt = { uri = "tcp://127.0.0.1:$MQ"; };
profiles_dir = "$T/profiles";
devices = ( { name = "w3"; driver = "modbus-rtu"; serial = "$PTY"; unit = 3; profile = "rtuwrite"; timeout_ms = 300; } );
EOC
"$WARDGW" write -c "$T/w.conf" --device w3 --metric setpoint --value 1234 > "$T/w.out" 2>&1 || fail "rtu write: $(cat "$T/w.out")"
grep -q '^w3 setpoint = 1234 ' "$T/w.out" || fail "rtu write read-back: $(cat "$T/w.out")"
"$WARDGW" write -c "$T/w.conf" --device w3 --metric level --value 230 > "$T/w.out" 2>&1 || fail "rtu write f32: $(cat "$T/w.out")"
[ "$(sim_ctl reg 2 holding 0x102 2 | tr '\n' ' ')" = "0x0102=0x0000 0x0103=0x4366 " ] || fail "f32 CDAB over rtu: $(sim_ctl reg 2 holding 0x102 2)"
"$WARDGW" write -c "$T/w.conf" --device w3 --metric relay --value on > "$T/w.out" 2>&1 || fail "rtu write coil: $(cat "$T/w.out")"
[ "$(sim_ctl reg 2 coil 0x100)" = "0x0100=0x0001" ] || fail "coil over rtu: $(sim_ctl reg 2 coil 0x100)"
sed -i 's/unit = 3;/unit = 2;/' "$T/w.conf"
"$WARDGW" write -c "$T/w.conf" --device w3 --metric setpoint --value 1 > "$T/w.out" 2>&1 && fail "write to the dead unit worked"
grep -q 'no reply within 300 ms writing holding 0x0100 (function 16)' "$T/w.out" || fail "dead unit write: $(cat "$T/w.out")"
ok "rtu writes: u16 and f32 CDAB with function 16, a coil with 15, read back; the dead unit: $(cat "$T/w.out")"

# --- 4. wrong baud rate: CRC errors, named
rtu_config "$T/baud.conf" 19200 1
start_gateway "$T/baud.conf" --run-secs 6
wait_until 15 grep -q 'device bus-cab-001: offline: CRC error in the reply: wrong baud rate or parity' "$T/gateway.log" \
	|| fail "wrong baud: $(grep 'bus-cab-001' "$T/gateway.log" | head -3)"
ok "wrong baud: $(grep -o 'bus-cab-001: offline.*' "$T/gateway.log" | head -1)"
stop_pid "$GW_PID"

# --- 5. wrong frame: silence on the whole bus, the reason says what to check
rtu_config "$T/stop.conf" 9600 2
start_gateway "$T/stop.conf" --run-secs 8
wait_until 15 grep -q "device bus-cab-00[13]: offline: no reply within 300 ms (no unit on $PTY answers: check baud rate, parity" \
	"$T/gateway.log" || fail "wrong stop bits: $(grep 'bus-cab' "$T/gateway.log" | head -5)"
ok "wrong stop bits: $(grep -o 'bus-cab-00[13]: offline.*' "$T/gateway.log" | tail -1)"
stop_pid "$GW_PID"
