#!/usr/bin/env bash
# The technician's tools against the simulator: `wardgw probe` shows the
# values a meter serves (the f32 ABCD column of an SDM120's voltage),
# `probe -c --device` prints every metric as the gateway decodes it, errors
# (refused port, silent device, exception, bad --rtu/--tcp) are one clear
# line and a non-zero exit, and `wardgw scan` finds the one unit id that
# answers. With python3, --rtu against a serial device on a pty too. No
# mosquitto and no gateway daemon are needed.
. "$(dirname "$0")/lib.sh"

BASE=$(free_port 4) CTL=$(free_port) NOBODY=$(free_port)
SIM_CTL=$CTL
# device 0 a cabinet, 1 a cabinet that never answers, 2 an SDM120, 3 a DDS238;
# every device answers unit id 3 only (and 255), others get exception 0x0B
start_sim --base-port "$BASE" --cabinets 2 --sdm120 1 --dds238 1 --dead 1 --unit 3 --freeze --seed 11 \
	--control "$CTL"
CAB=$BASE DEAD=$((BASE + 1)) SDM=$((BASE + 2)) DDS=$((BASE + 3))

# near A B: equal to 1e-6 relative (a float32 printed with 7 digits)
near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; m = (b < 0 ? -b : b); exit !(d <= 1e-6 * m + 1e-9) }'; }
# near12: equal to 1e-9 relative (printed with 12 digits, as the gateway publishes)
near12() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; m = (b < 0 ? -b : b); exit !(d <= 1e-9 * (m > 1 ? m : 1)) }'; }
served() { sim_ctl get "$1" | awk -F= -v m="$2" '$1 == m { print $2 }'; }
# the f32 value of the 32-bit table row at ADDRESS in ORDER
f32_of() {
	awk -v a="$2" -v o="$3" '/^32-bit/ { on = 1; next } /^64-bit/ { on = 0 } !on { next }
		/^0x/ { cur = $1; if (cur == a && $2 == o) { print $5; exit } next }
		cur == a && $1 == o { print $4; exit }' "$1"
}

# --- 1. probe --tcp: an SDM120's voltage, frequency and energy registers
for reg in supplyVoltage:0 frequency:0x46 activeEnergy:0x156; do
	m=${reg%%:*} addr=${reg#*:}
	"$WARDGW" probe --tcp "127.0.0.1:$SDM" --unit 3 --table input --address "$addr" --count 2 \
		> "$T/probe.out" 2> "$T/probe.err" || fail "probe $m: exit $? ($(cat "$T/probe.err"))"
	hexaddr=$(printf '0x%04x' "$addr")
	got=$(f32_of "$T/probe.out" "$hexaddr" ABCD)
	want=$(served 2 "$m")
	[ -n "$got" ] && [ -n "$want" ] || fail "probe $m: no f32 ABCD value ($got) or served value ($want): $(cat "$T/probe.out")"
	near "$got" "$want" || fail "probe $m: f32 ABCD shows $got, the simulator serves $want"
	# the other word order is not the value: the table tells them apart
	cdab=$(f32_of "$T/probe.out" "$hexaddr" CDAB)
	near "$cdab" "$want" && fail "probe $m: CDAB shows the value too ($cdab)"
	[ ! -s "$T/probe.err" ] || fail "probe $m wrote to stderr: $(cat "$T/probe.err")"
	ok "probe --tcp $m at $hexaddr: f32 ABCD $got = served $want (CDAB $cdab)"
done
grep -q "^0x0156   0x" "$T/probe.out" || fail "raw register rows missing"
grep -q "^64-bit" "$T/probe.out" && fail "64-bit table printed for 2 registers"

# a DDS238's active power, an s16 that the simulator drives negative at times
"$WARDGW" probe --tcp "127.0.0.1:$DDS" --unit 3 --table holding --address 0x0e --count 1 > "$T/probe.out" \
	|| fail "probe dds activePower"
got=$(awk '$1 == "0x000e" { print $4 }' "$T/probe.out")
want=$(served 3 activePower)
near "$got" "$want" || fail "dds activePower: s16 AB shows $got, served $want"
ok "probe --tcp dds activePower: s16 AB $got = served $want"

# coils print as bits
"$WARDGW" probe --tcp "127.0.0.1:$CAB" --unit 3 --table coil --address 0 --count 1 > "$T/probe.out" \
	|| fail "probe coil"
grep -Eq '^0x0000 +[01]$' "$T/probe.out" || fail "coil output: $(cat "$T/probe.out")"
ok "probe --tcp a coil"

# --- 2. probe -c FILE --device NAME
mkdir -p "$T/profiles"
cp "$ROOT"/config/profiles/*.conf "$T/profiles/"
# an SDM120 profile with one register the meter does not have
sed -e 's/name = "sdm120"/name = "sdm120-extra"/' \
	-e 's/^\(    { metric = "activeEnergy".*\)$/\1,\n    { metric = "phantom"; table = "input"; address = 0x0100; type = "u16"; unit = "V"; }/' \
	"$ROOT/config/profiles/sdm120.conf" > "$T/profiles/sdm120-extra.conf"
grep -q phantom "$T/profiles/sdm120-extra.conf" || fail "could not write the test profile"
cat > "$T/gw.conf" <<EOC
gateway = { id = "gw-test"; lat = 11.8; lon = 106.9; data_dir = "$T/data"; };
mqtt = { uri = "tcp://127.0.0.1:1"; };
profiles_dir = "$T/profiles";
device_defaults = { unit = 3; timeout_ms = 300; };
devices = (
  { name = "cabinet-le-loi"; host = "127.0.0.1"; port = $CAB; profile = "lighting-cabinet"; },
  { name = "cabinet-silent"; host = "127.0.0.1"; port = $DEAD; profile = "lighting-cabinet"; },
  { name = "meter-sdm"; host = "127.0.0.1"; port = $SDM; profile = "sdm120"; },
  { name = "meter-dds"; host = "localhost"; port = $DDS; profile = "dds238"; },
  { name = "meter-sdm-extra"; host = "127.0.0.1"; port = $SDM; profile = "sdm120-extra"; },
  { name = "meter-wrong-unit"; host = "127.0.0.1"; port = $SDM; unit = 7; profile = "sdm120"; }
);
EOC
"$WARDGW" check -c "$T/gw.conf" > /dev/null || fail "test config is not valid"

idx=0
for d in cabinet-le-loi - meter-sdm meter-dds; do
	[ "$d" = - ] && { idx=$((idx + 1)); continue; }
	"$WARDGW" probe -c "$T/gw.conf" --device "$d" > "$T/dev.out" 2> "$T/dev.err" \
		|| fail "probe --device $d: exit $? ($(cat "$T/dev.err"))"
	n=0
	while IFS='=' read -r metric want; do
		[ -n "$metric" ] && [ "$metric" != OK ] || continue
		line=$(awk -v m="$metric" '$1 == m' "$T/dev.out")
		[ -n "$line" ] || fail "$d: metric $metric missing: $(cat "$T/dev.out")"
		set -- $line
		[ "$4" = good ] || fail "$d: $metric quality '$4': $line"
		near12 "$2" "$want" || fail "$d: $metric printed $2, the simulator serves $want"
		n=$((n + 1))
	done < <(sim_ctl get $idx)
	[ $n -ge 6 ] || fail "$d: only $n metrics compared"
	ok "probe --device $d: $n metrics equal to what the simulator serves"
	idx=$((idx + 1))
done
awk '$1 == "activePower" && $3 == "W" && $5 == "holding" && $6 == "0x000e" && $7 == "s16"' "$T/dev.out" | grep -q . \
	|| fail "dds activePower row: $(grep activePower "$T/dev.out")"
ok "probe --device rows name unit, table, address and type"

# a register the meter does not have: that metric comm_error with its reason, the others good, exit 1
"$WARDGW" probe -c "$T/gw.conf" --device meter-sdm-extra > "$T/dev.out" 2> "$T/dev.err" \
	&& fail "probe of a device with a failed read exited 0"
awk '$1 == "phantom"' "$T/dev.out" | grep -q 'comm_error .*exception 0x02 (illegal data address) reading 1 input register at 0x0100' \
	|| fail "phantom row: $(grep phantom "$T/dev.out")"
[ "$(grep -c ' good ' "$T/dev.out")" = 7 ] || fail "the other 7 metrics are not good: $(cat "$T/dev.out")"
grep -q '1 of 7 requests failed' "$T/dev.err" || fail "summary on stderr: $(cat "$T/dev.err")"
ok "probe --device: a missing register is comm_error with its exception, the rest good"

# a silent device: every metric comm_error with the timeout
start=$SECONDS
"$WARDGW" probe -c "$T/gw.conf" --device cabinet-silent > "$T/dev.out" 2> "$T/dev.err" \
	&& fail "probe of a silent device exited 0"
grep -q '^lampsOn .* comm_error .*no reply within 300 ms' "$T/dev.out" || fail "silent: $(cat "$T/dev.out")"
[ $((SECONDS - start)) -le 3 ] || fail "silent device took $((SECONDS - start)) s"
ok "probe --device of a silent device: comm_error, no reply within 300 ms"

# the wrong unit id: a hint to scan
"$WARDGW" probe -c "$T/gw.conf" --device meter-wrong-unit > /dev/null 2> "$T/dev.err" && fail "wrong unit exited 0"
grep -q "no device answers at its unit id.*wardgw scan" "$T/dev.err" || fail "wrong unit: $(cat "$T/dev.err")"
ok "probe --device with a wrong unit id points at scan"

# an unknown device name: the close ones are listed
"$WARDGW" probe -c "$T/gw.conf" --device meter-sdn > "$T/dev.out" 2> "$T/dev.err" && fail "unknown device exited 0"
grep -q "no device named 'meter-sdn' in $T/gw.conf; did you mean meter-sdm" "$T/dev.err" \
	|| fail "unknown device: $(cat "$T/dev.err")"
[ ! -s "$T/dev.out" ] || fail "unknown device printed: $(cat "$T/dev.out")"
ok "unknown device: $(cat "$T/dev.err")"

# --- 3. errors: one line on stderr, non-zero exit
expect_err() {  # expect_err STATUS 'PATTERN' ARGS...: the exit status and the one stderr line
	local want=$1 pat=$2 rc
	shift 2
	"$WARDGW" "$@" > "$T/e.out" 2> "$T/e.err"
	rc=$?
	[ "$rc" = "$want" ] || fail "wardgw $*: exit $rc, not $want ($(cat "$T/e.err"))"
	[ "$(wc -l < "$T/e.err")" = 1 ] || fail "wardgw $*: not one line on stderr: $(cat "$T/e.err")"
	grep -q -- "$pat" "$T/e.err" || fail "wardgw $*: '$(cat "$T/e.err")' does not say '$pat'"
	[ ! -s "$T/e.out" ] || fail "wardgw $*: printed on stdout: $(cat "$T/e.out")"
	ok "$(cat "$T/e.err")"
}
R="--table input --address 0 --count 2"
expect_err 1 "cannot connect to 127.0.0.1:$NOBODY: Connection refused" probe --tcp "127.0.0.1:$NOBODY" $R
expect_err 1 "unit 3: reading 2 holding registers at 0x0000: no reply within 200 ms" \
	probe --tcp "127.0.0.1:$DEAD" --unit 3 --table holding --address 0 --count 2 --timeout-ms 200
expect_err 1 "reading 2 input registers at 0x0200: exception 0x02 (illegal data address)" \
	probe --tcp "127.0.0.1:$SDM" --unit 3 --table input --address 0x200 --count 2
expect_err 1 "exception 0x0b (gateway target device failed to respond); no device answers at this unit id" \
	probe --tcp "127.0.0.1:$SDM" --unit 1 $R
expect_err 2 "frame '8X1': parity 'X' must be N (none), E (even) or O (odd)" probe --rtu /dev/ttyUSB0:9600:8X1 $R
expect_err 2 "the baud rate '96OO' is not a number" probe --rtu /dev/ttyUSB0:96OO:8N1 $R
expect_err 2 "baud rate 9601 is not a standard rate" probe --rtu /dev/ttyUSB0:9601:8N1 $R
expect_err 2 "'ttyUSB0' is not a device path" probe --rtu ttyUSB0:9600:8N1 $R
expect_err 1 "cannot open /dev/wardgw-no-such-tty: No such file or directory" \
	probe --rtu /dev/wardgw-no-such-tty:9600:8E1 $R
expect_err 2 "the port must be 1..65535 (got '70000')" probe --tcp 127.0.0.1:70000 $R
expect_err 2 "an IPv6 address goes in brackets" probe --tcp fe80::1:502 $R
expect_err 2 "give either --tcp HOST:PORT or --rtu DEV:BAUD:8N1, not both" \
	probe --tcp 127.0.0.1:502 --rtu /dev/ttyUSB0:9600 $R
expect_err 2 "--count must be 1..125 (got '126')" probe --tcp 127.0.0.1:502 --table holding --address 0 --count 126
expect_err 2 "--address 0xfff0 + --count 32 runs past the last address 0xFFFF" \
	probe --tcp 127.0.0.1:502 --table holding --address 0xfff0 --count 32
expect_err 2 "--table must be holding, input, coil or discrete (got 'inputs')" \
	probe --tcp 127.0.0.1:502 --table inputs --address 0 --count 1
expect_err 2 "unit 0 cannot be read on a serial line" probe --rtu /dev/ttyUSB0:9600:8N1 --unit 0 $R

# --- 4. scan: the simulator answers unit 3 (and 255, not scanned here);
# other ids get exception 0x0B, which is "no device behind a gateway"
"$WARDGW" scan --tcp "127.0.0.1:$SDM" --units 1-20 --table input > "$T/scan.out" 2> "$T/scan.err" \
	|| fail "scan: exit $? ($(cat "$T/scan.err"))"
grep -Eq '^unit +3  answers: 0x[0-9a-f]{4} \([0-9]+\)$' "$T/scan.out" || fail "scan did not find unit 3: $(cat "$T/scan.out")"
[ "$(grep -c answers "$T/scan.out")" = 1 ] || fail "scan found more than unit 3: $(cat "$T/scan.out")"
grep -q '^1 of 20 unit ids answer: 3; 19 no device behind the gateway' "$T/scan.out" \
	|| fail "scan summary: $(tail -n 1 "$T/scan.out")"
ok "scan finds unit 3 of 1-20: $(tail -n 1 "$T/scan.out")"

# an exception counts as an answer: holding 0 does not exist on the SDM120
"$WARDGW" scan --tcp "127.0.0.1:$SDM" --units 3,255 > "$T/scan.out" || fail "scan of holding registers"
grep -q '^unit   3  answers, exception 0x02 (illegal data address)$' "$T/scan.out" || fail "scan: $(cat "$T/scan.out")"
grep -q '^unit 255  answers, exception 0x02' "$T/scan.out" || fail "scan 255: $(cat "$T/scan.out")"
ok "scan: an exception reply counts as an answer"

# a silent line: nothing answers, per-unit timeout, exit 1
start=$SECONDS
"$WARDGW" scan --tcp "127.0.0.1:$DEAD" --units 1-5 --timeout-ms 100 -v > "$T/scan.out" 2>&1 \
	&& fail "scan of a silent device exited 0"
[ "$(grep -c 'no reply within 100 ms' "$T/scan.out")" = 5 ] || fail "scan -v silent: $(cat "$T/scan.out")"
grep -q '^0 of 5 unit ids answer; 5 no reply' "$T/scan.out" || fail "silent summary: $(cat "$T/scan.out")"
[ $((SECONDS - start)) -le 3 ] || fail "scan of 5 silent units took $((SECONDS - start)) s"
ok "scan of a silent device: 5 no reply, exit 1"
expect_err 1 "cannot connect to 127.0.0.1:$NOBODY: Connection refused" scan --tcp "127.0.0.1:$NOBODY" --units 1-3
expect_err 2 "unit 248 cannot be read over TCP; use 0..247 or 255" scan --tcp 127.0.0.1:502 --units 240-255
expect_err 2 "--units '1,,3' has an empty entry" scan --tcp 127.0.0.1:502 --units 1,,3

# --- 5. RTU over a pseudo-terminal (needs python3; a pty ignores baud and
# parity, so this checks the --rtu path through libmodbus, not the line)
if command -v python3 > /dev/null; then
	cat > "$T/rtu.py" <<'EOP'
# A serial Modbus device on a pty: unit 5 answers FC04 with 0x4366 0x0000
# (230.0 as f32 ABCD) then zeros; unit 6 answers exception 0x02; others are silent.
import os, sys, tty
def crc(b):
    c = 0xFFFF
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
    return bytes([c & 0xff, c >> 8])
m, s = os.openpty()
tty.setraw(s)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(os.ttyname(s))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
buf = b""
while True:
    buf += os.read(m, 256)
    while len(buf) >= 8:
        req, buf = buf[:8], buf[8:]
        if req != req[:6] + crc(req[:6]):
            buf = b""
            break
        unit, fc, n = req[0], req[1], req[4] << 8 | req[5]
        if unit == 5 and fc == 4:
            body = bytes([5, 4, 2 * n, 0x43, 0x66] + [0] * (2 * n - 2))
        elif unit == 6:
            body = bytes([6, fc | 0x80, 2])
        else:
            continue
        os.write(m, body + crc(body))
EOP
	python3 "$T/rtu.py" "$T/pty" > "$T/rtu.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_until 10 test -s "$T/pty" || fail "the pty device did not start"
	PTY=$(cat "$T/pty")
	"$WARDGW" probe --rtu "$PTY:9600:8E1" --unit 5 --table input --address 0 --count 2 > "$T/probe.out" \
		2> "$T/probe.err" || fail "probe --rtu: $(cat "$T/probe.err")"
	head -n 1 "$T/probe.out" | grep -q "^$PTY 9600 8E1 unit 5: 2 input registers" || fail "rtu header: $(head -n 1 "$T/probe.out")"
	[ "$(f32_of "$T/probe.out" 0x0000 ABCD)" = 230 ] || fail "rtu: f32 ABCD is not 230: $(cat "$T/probe.out")"
	ok "probe --rtu $PTY:9600:8E1: 0x4366 0x0000 reads 230 as f32 ABCD"
	expect_err 1 "$PTY 19200 8N2 unit 6: reading 2 input registers at 0x0000: exception 0x02 (illegal data address)" \
		probe --rtu "$PTY:19200:8N2" --unit 6 $R
	"$WARDGW" scan --rtu "$PTY:9600:8N1" --units 1-8 --table input --timeout-ms 100 > "$T/scan.out" \
		|| fail "scan --rtu: $(cat "$T/scan.out")"
	grep -q '^2 of 8 unit ids answer: 5 6; 6 no reply' "$T/scan.out" || fail "scan --rtu: $(cat "$T/scan.out")"
	ok "scan --rtu: $(tail -n 1 "$T/scan.out")"
else
	echo "   skip: no python3 for the RTU pty device"
fi
