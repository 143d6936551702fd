#!/usr/bin/env bash
# End to end on real parts: mosquitto, the simulator (frozen values) and the
# gateway. What the simulator serves = what arrives over MQTT as SenML =
# what `wardgw query` returns, for a cabinet, an SDM120 and a DDS238.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) BASE=$(free_port 5) CTL=$(free_port)
SIM_CTL=$CTL
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 3 --sdm120 1 --dds238 1 --freeze --seed 7 --control "$CTL"
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab\"; count = 3; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; },
  { name = \"sdm\"; host = \"127.0.0.1\"; port = $((BASE + 3)); profile = \"sdm120\"; },
  { name = \"dds\"; host = \"127.0.0.1\"; port = $((BASE + 4)); profile = \"dds238\"; }"
"$WARDGW" check -c "$T/gw.conf" > /dev/null || fail "test config is not valid"

mosquitto_sub -h 127.0.0.1 -p "$MQ" -v -t 'ward/#' > "$T/sub.txt" 2>"$T/sub.log" &
PIDS="$PIDS $!"
start_gateway "$T/gw.conf"

has_all() {
	for d in cab-001 cab-002 cab-003 sdm dds; do
		[ "$(grep -c "^ward/gw-test/telemetry/$d " "$T/sub.txt")" -ge 2 ] || return 1
	done
}
wait_until 20 has_all || fail "telemetry for all five devices did not arrive"
ok "telemetry arrived for all devices"

# Retained status: online, with version and config digest.
status=$(mosquitto_sub -h 127.0.0.1 -p "$MQ" -t ward/gw-test/status -C 1 -W 5)
echo "$status" | jq -e '.state == "online" and (.config | length) == 16 and .devices == 5' > /dev/null \
	|| fail "status message: $status"
ok "retained status online: $status"

# near A B: equal to 1e-9 relative (packs carry 12 significant digits)
near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; m = (a < 0 ? -a : a); exit !(d <= 1e-9 * (m > 1 ? m : 1)) }'; }

idx=0
for d in cab-001 cab-002 cab-003 sdm dds; do
	pack=$(grep "^ward/gw-test/telemetry/$d " "$T/sub.txt" | tail -n 1 | cut -d' ' -f2-)
	echo "$pack" | jq -e --arg d "$d" '.[0].bn == "urn:dev:wardgw:gw-test:\($d):" and (.[0].bt | type) == "number"' \
		> /dev/null || fail "$d: bad SenML pack: $pack"
	n=0
	while IFS='=' read -r metric want; do
		[ -n "$metric" ] || continue
		[ "$metric" = OK ] && continue
		got=$(echo "$pack" | jq -r --arg m "$metric" '.[] | select(.n == $m) | .v')
		[ -n "$got" ] || fail "$d: metric $metric missing from the pack"
		near "$got" "$want" || fail "$d: $metric published $got, simulator serves $want"
		stored=$("$WARDGW" query -c "$T/gw.conf" --device "$d" --metric "$metric" --from -1h --format json \
			| jq -r '.samples[-1].v')
		near "$stored" "$want" || fail "$d: $metric stored $stored, simulator serves $want"
		n=$((n + 1))
	done < <(sim_ctl get $idx)
	[ $n -ge 6 ] || fail "$d: only $n metrics compared"
	ok "$d: $n metrics equal in simulator, MQTT and store"
	idx=$((idx + 1))
done

# Units: kWh is a secondary unit, so the pack carries bver 26.
pack=$(grep '^ward/gw-test/telemetry/dds ' "$T/sub.txt" | tail -n 1 | cut -d' ' -f2-)
echo "$pack" | jq -e '.[0].bver == 26 and ([.[] | select(.n == "activeEnergy")][0].u == "kWh")' > /dev/null \
	|| fail "dds pack lacks bver/unit: $pack"
ok "units and bver"

# CSV output of query
"$WARDGW" query -c "$T/gw.conf" --device sdm --metric supplyVoltage --from -1h > "$T/q.csv"
head -n 1 "$T/q.csv" | grep -qx 'time,ts_ms,value,quality' || fail "csv header"
[ "$(tail -n +2 "$T/q.csv" | wc -l)" -ge 1 ] || fail "csv has no rows"
tail -n 1 "$T/q.csv" | grep -q '+07:00,[0-9]*,.*,good$' || fail "csv row: $(tail -n 1 "$T/q.csv")"
"$WARDGW" query -c "$T/gw.conf" --device nosuch --metric x 2>"$T/q.err" && fail "query of a missing series succeeded"
grep -q 'no series' "$T/q.err" || fail "missing-series message"
ok "query csv and errors"

# A clean stop publishes offline (retained).
stop_pid "$GW_PID"
status=$(mosquitto_sub -h 127.0.0.1 -p "$MQ" -t ward/gw-test/status -C 1 -W 5)
echo "$status" | jq -e '.state == "offline"' > /dev/null || fail "status after stop: $status"
ok "offline on clean stop"
