#!/usr/bin/env bash
# Writes by name: `wardgw write` takes the daemon's driver path (encode the
# engineering value by type, scale and order; function 05/06/15/16; read
# back and verify). Each type lands in the simulator's registers as the
# known wire image; a device that takes only function 16 gets 16 with
# write_function = 16 and an exception 0x01 without; refusals are one line.
. "$(dirname "$0")/lib.sh"

BASE=$(free_port 3) CTL=$(free_port)
SIM_CTL=$CTL
# device 0 a cabinet, 1 a DDS238 (accepts writes with function 16 only);
# port BASE+2 is nobody's
start_sim --base-port "$BASE" --cabinets 1 --sdm120 0 --dds238 1 --freeze --control "$CTL" --refuse 1
sim_ctl accept 1 >/dev/null || fail "sim accept"
mkdir -p "$T/profiles"
cat > "$T/profiles/writetest.conf" <<'EOP'
profile = {
  name = "writetest";
  registers = (
    { metric = "setpoint";   table = "holding"; address = 0x0100; type = "u16"; writable = true; },
    { metric = "trim";       table = "holding"; address = 0x0101; type = "s16"; scale = 0.1; unit = "Cel";
      writable = true; min = -100.0; max = 100.0; },
    { metric = "counter";    table = "holding"; address = 0x0102; type = "u32"; order = "CDAB"; writable = true; },
    { metric = "level";      table = "holding"; address = 0x0104; type = "f32"; unit = "W"; writable = true; },
    { metric = "flag";       table = "holding"; address = 0x0106; type = "bit"; bit = 3; writable = true; },
    { metric = "relay";      table = "coil";    address = 0x0100; type = "bit"; writable = true; },
    { metric = "readonly";   table = "holding"; address = 0x0107; type = "u16"; },
    { metric = "beyond";     table = "holding"; address = 0x0180; type = "u16"; writable = true; }
  );
};
EOP
sed -e 's/name = "writetest"/name = "writetest16"; write_function = 16/' "$T/profiles/writetest.conf" \
	> "$T/profiles/writetest16.conf"
NOBODY=$(free_port)
cat > "$T/gw.conf" <<EOC
gateway = { id = "gw-test"; ward = "test"; lat = 11.8; lon = 106.9; data_dir = "$T/data"; };
mqtt = { uri = "tcp://127.0.0.1:1"; };
profiles_dir = "$T/profiles";
device_defaults = { timeout_ms = 500; };
devices = (
  { name = "cab"; profile = "writetest"; host = "127.0.0.1"; port = $BASE; },
  { name = "dds"; profile = "writetest"; host = "127.0.0.1"; port = $((BASE + 1)); },
  { name = "dds16"; profile = "writetest16"; host = "127.0.0.1"; port = $((BASE + 1)); },
  { name = "gone"; profile = "writetest"; host = "127.0.0.1"; port = $NOBODY; }
);
EOC
"$WARDGW" check -c "$T/gw.conf" > "$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"

reg() { sim_ctl reg "$1" "$2" "$3" "${4:-1}" | tr '\n' ' ' | sed 's/ $//'; }
# wr DEVICE METRIC VALUE EXPECTED_READBACK
wr() {
	"$WARDGW" write -c "$T/gw.conf" --device "$1" --metric "$2" --value "$3" > "$T/w.out" 2> "$T/w.err" \
		|| fail "write $1 $2 $3: exit $? ($(cat "$T/w.err"))"
	grep -q "^$1 $2 = $4 " "$T/w.out" || fail "write $1 $2 $3: expected read-back $4: $(cat "$T/w.out")"
}
# refused DEVICE METRIC VALUE 'expected text'
refused() {
	"$WARDGW" write -c "$T/gw.conf" --device "$1" --metric "$2" --value "$3" > "$T/w.out" 2> "$T/w.err" \
		&& fail "write $1 $2 $3 should fail: $(cat "$T/w.out")"
	grep -q -- "$4" "$T/w.err" || fail "write $1 $2 $3: expected '$4' in: $(cat "$T/w.err")"
	[ "$(wc -l < "$T/w.err")" = 1 ] || fail "write $1 $2 $3: more than one line: $(cat "$T/w.err")"
}

# --- 1. every type, by name, read back, and the wire image in the device
wr cab setpoint 500 500
[ "$(reg 0 holding 0x100)" = "0x0100=0x01f4" ] || fail "u16: $(reg 0 holding 0x100)"
ok "u16 500 -> 0x01f4 (function 6), read back 500"
wr cab trim -12.3 -12.3
[ "$(reg 0 holding 0x101)" = "0x0101=0xff85" ] || fail "s16 scale 0.1: $(reg 0 holding 0x101)"
ok "s16 -12.3 Cel at scale 0.1 -> -123 = 0xff85"
wr cab counter 305419896 305419896
[ "$(reg 0 holding 0x102 2)" = "0x0102=0x5678 0x0103=0x1234" ] || fail "u32 CDAB: $(reg 0 holding 0x102 2)"
ok "u32 0x12345678 CDAB -> 0x5678 0x1234 (function 16)"
wr cab level 230 230
[ "$(reg 0 holding 0x104 2)" = "0x0104=0x4366 0x0105=0x0000" ] || fail "f32: $(reg 0 holding 0x104 2)"
ok "f32 230.0 -> 0x4366 0x0000"
wr cab flag on 1
[ "$(reg 0 holding 0x106)" = "0x0106=0x0008" ] || fail "bit 3: $(reg 0 holding 0x106)"
wr cab flag off 0
[ "$(reg 0 holding 0x106)" = "0x0106=0x0000" ] || fail "bit 3 off: $(reg 0 holding 0x106)"
ok "bit 3 of a holding register set and cleared (read, merge, write)"
wr cab relay 1 1
[ "$(reg 0 coil 0x100)" = "0x0100=0x0001" ] || fail "coil: $(reg 0 coil 0x100)"
wr cab relay false 0
[ "$(reg 0 coil 0x100)" = "0x0100=0x0000" ] || fail "coil off: $(reg 0 coil 0x100)"
ok "coil on and off (function 5)"
writes=$(sim_ctl stats | awk -F= '$1 == "writes" { print $2 }')
[ "$writes" = 8 ] || fail "the simulator saw $writes writes, not 8"

# --- 2. a device that takes only function 16
refused dds setpoint 7 "exception 0x01 (illegal function) writing holding 0x0100 (function 6)"
[ "$(reg 1 holding 0x100)" = "0x0100=0x0000" ] || fail "refused write changed the register"
wr dds16 setpoint 7 7
[ "$(reg 1 holding 0x100)" = "0x0100=0x0007" ] || fail "write_function 16: $(reg 1 holding 0x100)"
ok "DDS238: function 6 refused with exception 0x01; write_function = 16 writes"

# --- 3. refusals, each one line
refused cab readonly 1 "readonly is not writable"
refused cab trim 200 "outside the profile's range -100..100"
refused cab setpoint 70000 "does not fit a u16"
refused cab setpoint abc "must be a number"
refused cab flag 2 "a bit takes 0 or 1"
refused cab nosuch 1 "has no metric 'nosuch'; writable metrics: setpoint"
refused cabb setpoint 1 "did you mean cab"
refused cab beyond 1 "exception 0x02 (illegal data address) writing holding 0x0180"
refused gone setpoint 1 "Connection refused"
sim_ctl mute 0 >/dev/null
refused cab setpoint 9 "no reply within 500 ms"
sim_ctl unmute 0 >/dev/null
ok "not writable, out of min/max, out of type, bad value, bad bit, unknown metric and device, exception, refused, silent"
