#!/usr/bin/env bash
# Many unit ids behind one host:port: a Modbus TCP gateway (MBAP) and a
# serial server forwarding raw RTU frames (framing = "rtu", CRC checked by
# the gateway). The devices share one connection, serialised; a dead unit
# behind it goes offline without stalling the others, which keep their
# schedule with the right values; writes travel the shared link too.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) BASE=$(free_port 4) GWP=$(free_port) CTL=$(free_port)
SIM_CTL=$CTL
start_mosquitto "$MQ"
mkdir -p "$T/profiles"
cp "$ROOT"/config/profiles/*.conf "$T/profiles/"
cat > "$T/profiles/gwwrite.conf" <<'EOP'
profile = {
  name = "gwwrite";
  registers = (
    { metric = "setpoint"; table = "holding"; address = 0x0100; type = "u16"; writable = true; },
    { metric = "level";    table = "holding"; address = 0x0102; type = "f32"; writable = true; }
  );
};
EOP
conns() { ss -Htn state established "( dport = :$1 )" 2>/dev/null | wc -l; }

for framing in mbap rtu; do
	echo "-- framing $framing"
	# units 1-3 cabinets (2 dead), unit 4 an SDM120
	start_sim --base-port "$BASE" --cabinets 3 --sdm120 1 --dds238 0 --dead 1 --freeze --control "$CTL" \
		--gateway-port "$GWP" --gateway-framing "$framing"
	write_config "$T/gw.conf" "$MQ" "
  { name = \"gcab-001\"; host = \"127.0.0.1\"; port = $GWP; unit = 1; framing = \"$framing\";
    profile = \"lighting-cabinet\"; poll_interval_ms = 500; timeout_ms = 300; },
  { name = \"gcab-002\"; host = \"127.0.0.1\"; port = $GWP; unit = 2; framing = \"$framing\";
    profile = \"lighting-cabinet\"; poll_interval_ms = 500; timeout_ms = 300; },
  { name = \"gcab-003\"; host = \"127.0.0.1\"; port = $GWP; unit = 3; framing = \"$framing\";
    profile = \"lighting-cabinet\"; poll_interval_ms = 500; timeout_ms = 300; },
  { name = \"gsdm\"; host = \"127.0.0.1\"; port = $GWP; unit = 4; framing = \"$framing\"; profile = \"sdm120\";
    poll_interval_ms = 500; timeout_ms = 300; }"
	sed -i "s|^profiles_dir = .*|profiles_dir = \"$T/profiles\";|" "$T/gw.conf"
	"$WARDGW" check -c "$T/gw.conf" > "$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"
	start_gateway "$T/gw.conf"
	wait_until 10 grep -q "modbus-tcp 127.0.0.1:$GWP: 4 devices share one connection" "$T/gateway.log" \
		|| fail "no shared connection: $(grep modbus-tcp "$T/gateway.log")"
	wait_until 15 grep -q 'device gcab-002: offline: no reply within 300 ms' "$T/gateway.log" \
		|| fail "dead unit 2 not offline: $(grep gcab-002 "$T/gateway.log")"
	[ "$(conns "$GWP")" = 1 ] || fail "$(conns "$GWP") connections to the gateway port, not 1"
	ok "4 devices, 1 connection; unit 2 offline: $(grep -o 'gcab-002: offline.*' "$T/gateway.log" | head -1)"
	a1=$(sample_count "$T/gw.conf" gcab-001 lampsOn) a4=$(sample_count "$T/gw.conf" gsdm supplyVoltage)
	t0=$SECONDS
	# 8 s on the gateway's schedule: 16 more polls of unit 1 stored (then
	# the rates below are checked against the time that took)
	wait_for 30 '[ "$(sample_count "$T/gw.conf" gcab-001 lampsOn)" -ge $((a1 + 16)) ]' || fail "unit 1: no 16 polls in 30 s"
	b1=$(sample_count "$T/gw.conf" gcab-001 lampsOn) b4=$(sample_count "$T/gw.conf" gsdm supplyVoltage)
	secs=$((SECONDS - t0))
	[ $((b1 - a1)) -ge $((secs * 2 - 3)) ] || fail "unit 1: $((b1 - a1)) polls in $secs s"
	[ $((b4 - a4)) -ge $((secs * 2 - 3)) ] || fail "unit 4: $((b4 - a4)) polls in $secs s"
	ok "units 1 and 4 keep their 500 ms schedule: $((b1 - a1)) and $((b4 - a4)) polls in $secs s"
	grep -q 'device \(gcab-001\|gcab-003\|gsdm\): \(offline\|degraded\)' "$T/gateway.log" \
		&& fail "a live unit went bad: $(grep -E 'gcab-00[13]|gsdm' "$T/gateway.log")"
	for pair in gcab-001:0:activeEnergy gcab-003:2:supplyVoltage gsdm:3:supplyVoltage gsdm:3:activeEnergy; do
		dev=${pair%%:*} rest=${pair#*:} idx=${rest%%:*} m=${rest#*:}
		want=$(sim_ctl get "$idx" | awk -F= -v m="$m" '$1 == m { print $2 }')
		got=$("$WARDGW" query -c "$T/gw.conf" --device "$dev" --metric "$m" --from -1h | tail -1 | cut -d, -f3)
		awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-6 * (b < 0 ? -b : b) + 1e-9) }' \
			|| fail "$dev $m: stored $got, served $want"
	done
	ok "values of units 1, 3 and 4 as served"
	stop_pid "$GW_PID"
	# a write over the shared link, read back
	cat > "$T/w.conf" <<EOC
gateway = { id = "gw-w"; ward = "w"; lat = 11.8; lon = 106.9; data_dir = "$T/wdata"; };
mqtt = { uri = "tcp://127.0.0.1:$MQ"; };
profiles_dir = "$T/profiles";
devices = ( { name = "w3"; host = "127.0.0.1"; port = $GWP; unit = 3; framing = "$framing"; profile = "gwwrite"; } );
EOC
	"$WARDGW" write -c "$T/w.conf" --device w3 --metric level --value -7.25 > "$T/w.out" 2>&1 \
		|| fail "write over $framing: $(cat "$T/w.out")"
	grep -q '^w3 level = -7.25 ' "$T/w.out" || fail "write read-back: $(cat "$T/w.out")"
	[ "$(sim_ctl reg 2 holding 0x102 2 | tr '\n' ' ')" = "0x0102=0xc0e8 0x0103=0x0000 " ] \
		|| fail "f32 -7.25 in unit 3: $(sim_ctl reg 2 holding 0x102 2)"
	ok "write of unit 3 over the $framing link, read back: $(cat "$T/w.out")"
	stop_pid "$SIM_PID"
done

# framings cannot mix on one host:port
write_config "$T/mix.conf" "$MQ" "
  { name = \"a\"; host = \"127.0.0.1\"; port = $GWP; unit = 1; profile = \"sdm120\"; },
  { name = \"b\"; host = \"127.0.0.1\"; port = $GWP; unit = 1; framing = \"rtu\"; profile = \"sdm120\"; },
  { name = \"c\"; host = \"127.0.0.1\"; port = $GWP; unit = 1; profile = \"sdm120\"; }"
"$WARDGW" check -c "$T/mix.conf" > "$T/check.out" 2>&1 && fail "mixed framings accepted"
grep -q 'device b: framing "rtu" on 127.0.0.1:'"$GWP"', but a (line [0-9]*) there uses "mbap"' "$T/check.out" \
	|| fail "mixed framing error: $(cat "$T/check.out")"
grep -q 'device c:' "$T/check.out" && fail "device c (same framing as a) refused: $(cat "$T/check.out")"
ok "check: mixed framings on one host:port are an error"
