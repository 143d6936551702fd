#!/usr/bin/env bash
# The README's walk-through, followed literally: its profile ("acme-3p")
# and its device entry are taken from README.md, pointed at a simulated
# meter that the profiles shipped with wardgw do not describe by that name,
# and the values must arrive decoded correctly in the store and over MQTT.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) BASE=$(free_port 1) CTL=$(free_port)
SIM_CTL=$CTL
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 0 --sdm120 1 --dds238 0 --freeze --unit 3 --control "$CTL"

mkdir -p "$T/profiles"
# the profile block of the README, verbatim
awk '/^   profile = \{/ { on = 1 } on { sub(/^   /, ""); print } on && /^\};/ { exit }' "$ROOT/README.md" \
	> "$T/profiles/acme-3p.conf"
grep -q 'name = "acme-3p"' "$T/profiles/acme-3p.conf" || fail "README profile block not found"
# the device line of the README, with the simulator's address
dev=$(awk '/^   \{ name = "meter-le-loi"/ { getline l2; print $0 " " l2; exit }' "$ROOT/README.md")
[ -n "$dev" ] || fail "README device block not found"
dev=$(echo "$dev" | sed -e "s/host = \"[^\"]*\"/host = \"127.0.0.1\"/" -e "s/port = [0-9]*/port = $BASE/" \
	-e 's/poll_interval_ms = [0-9]*/poll_interval_ms = 1000/' -e 's/,[[:space:]]*$//')
cat > "$T/gw.conf" <<EOC
gateway = { id = "gw-test"; lat = 11.8; lon = 106.9; data_dir = "$T/data"; };
mqtt = { uri = "tcp://127.0.0.1:$MQ"; };
devices = ( $dev );
EOC
"$WARDGW" check -c "$T/gw.conf" || fail "README config does not pass check"
mosquitto_sub -h 127.0.0.1 -p "$MQ" -v -t 'ward/gw-test/telemetry/#' > "$T/sub.txt" 2>/dev/null &
PIDS="$PIDS $!"
start_gateway "$T/gw.conf"
wait_until 15 grep -q '^ward/gw-test/telemetry/meter-le-loi ' "$T/sub.txt" || fail "no telemetry from meter-le-loi"

near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-6 * (b < 0 ? -b : b) + 1e-9) }'; }
pack=$(grep '^ward/gw-test/telemetry/meter-le-loi ' "$T/sub.txt" | tail -n 1 | cut -d' ' -f2-)
for m in supplyVoltage frequency activeEnergy; do
	want=$(sim_ctl get 0 | awk -F= -v m="$m" '$1 == m { print $2 }')
	got=$(echo "$pack" | jq -r --arg m "$m" '.[] | select(.n == $m) | .v')
	near "$got" "$want" || fail "$m: published $got, meter serves $want"
	stored=$("$WARDGW" query -c "$T/gw.conf" --device meter-le-loi --metric "$m" --format json | jq -r '.samples[-1].v')
	near "$stored" "$want" || fail "$m: stored $stored, meter serves $want"
	ok "$m = $got (meter serves $want)"
done
