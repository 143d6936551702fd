#!/usr/bin/env bash
# Measures the status page at ward scale: N simulated lighting cabinets
# (default 300) polled at 1 s and one that does not answer, in two groups, with the lighting KPIs of
# config/gateway.conf, positions inside a ward boundary (when this wardgw
# knows lat/lon), and history behind the charts (hourly rollups for every
# series over 48 h: lamps lit at night, a failure now and then; minute
# rollups over the last 2 h). Prints the
# page's size and its render time on the server (Server-Timing, median of
# 9) for the ward page and, where it exists, a device page. Asserts nothing.
# Usage: scripts/measure-page.sh [N]   (after make)
#        SHOT=docs/status-page.png SHOT_LANG=vi scripts/measure-page.sh 60
#        also takes a headless-Chromium screenshot of the ward page.
. "$(dirname "$0")/../tests/integration/lib.sh"
N=${1:-300}

"$SIM" survey --out "$T/survey.csv" --boundary "$T/ward.geojson" --time $(( $(date +%s) - 3600 )) 2> /dev/null
read -r LONW LATS LONE LATN < <(jq -r '.geometry.coordinates[0] | "\(.[0][0]) \(.[0][1]) \(.[2][0]) \(.[2][1])"' "$T/ward.geojson")
MQ=$(free_port) BASE=$(free_port "$N") HP=$(free_port) DOWN=$(free_port)
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets "$N" --sdm120 0 --dds238 0
devs="" north="" i=0
while [ $i -lt "$N" ]; do
	n=$(printf 'cab-%03d' $((i + 1)))
	pos=$(awk -v i=$i -v N="$N" -v w="$LONW" -v s="$LATS" -v e="$LONE" -v t="$LATN" \
		'BEGIN { srand(i); printf "lat = %.6f; lon = %.6f;", s + (0.05 + 0.9 * rand()) * (t - s), w + (0.05 + 0.9 * rand()) * (e - w) }')
	devs="$devs${devs:+,}
  { name = \"$n\"; host = \"127.0.0.1\"; port = $((BASE + i)); profile = \"lighting-cabinet\"; POS$pos }"
	[ $i -lt $((N / 2)) ] && north="$north${north:+, }\"$n\""
	i=$((i + 1))
done
# and one cabinet that does not answer: a ward always has one
pos=$(awk -v w="$LONW" -v s="$LATS" -v e="$LONE" -v t="$LATN" 'BEGIN { printf "lat = %.6f; lon = %.6f;", s + 0.8 * (t - s), w + 0.3 * (e - w) }')
devs="$devs,
  { name = \"cab-down\"; host = \"127.0.0.1\"; port = $DOWN; profile = \"lighting-cabinet\"; POS$pos }"
extra="
http = { listen = \"127.0.0.1:$HP\"; };
groups = ( { name = \"north\"; devices = [ $north ]; } );
coverage = { boundary_file = \"ward.geojson\"; cell_m = 100.0; };
kpis = (
  { name = \"lighting.energy_day\"; domain = \"lighting\"; aggregate = \"delta\"; metric = \"activeEnergy\"; window = \"1d\"; unit = \"kWh\";
    target = { op = \"<=\"; value = 1800.0; baseline = 2400.0; start = \"2026-01-01\"; deadline = \"2026-12-31\"; }; },
  { name = \"lighting.power_15m\"; domain = \"lighting\"; aggregate = \"sum\"; metric = \"activePower\"; window = \"15m\"; unit = \"kW\"; scale = 0.001; },
  { name = \"lighting.devices_online\"; domain = \"lighting\"; aggregate = \"availability\"; window = \"15m\";
    target = { op = \">=\"; value = 0.98; deadline = \"2026-06-30\"; }; },
  { name = \"lighting.lamp_failure_ratio\"; domain = \"lighting\"; aggregate = \"ratio\"; metric = \"lampsFailed\";
    denominator = \"lampsInstalled\"; window = \"1h\"; target = { op = \"<=\"; value = 0.02; }; },
  { name = \"coverage.nr_area\"; aggregate = \"coverage\"; technology = \"NR\"; window = \"15m\";
    target = { op = \">=\"; value = 0.60; baseline = 0.20; start = \"2026-01-01\"; deadline = \"2026-12-31\"; }; }
);"
write_config "$T/gw.conf" "$MQ" "${devs//POS/}" "$extra"
if ! "$WARDGW" check -c "$T/gw.conf" > /dev/null 2>&1; then
	# a wardgw without positions (or without coverage): the same ward without them
	write_config "$T/gw.conf" "$MQ" "$(printf '%s' "$devs" | sed 's/POSlat = [^;]*; lon = [^;]*;//')" "$extra"
	"$WARDGW" check -c "$T/gw.conf" > "$T/check.txt" 2>&1 || fail "config: $(cat "$T/check.txt")"
	echo "(this wardgw does not take device positions: measured without them)"
fi
"$WARDGW" import-survey -c "$T/gw.conf" "$T/survey.csv" > /dev/null 2>&1

start_gateway "$T/gw.conf"
wait_until 30 port_busy "$HP" || fail "no page"
wait_for 60 '[ "$(grep -o "\"state\":\"online\"" "$T/data/status.json" 2>/dev/null | wc -l)" -ge "$N" ]' || fail "not all devices online"
stop_pid "$GW_PID"
# a day of history, as a gateway running since yesterday would have it
sqlite3 "$T/data/wardgw.db" "
  WITH RECURSIVE h(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM h WHERE k < 48),
  r AS (SELECT m.id AS series, m.name AS name, ((strftime('%s','now') / 3600) - k) AS hr, k FROM h, metric m),
  -- lamps lit from 18:00 to 06:00 ward time (UTC+7); a lamp fails now and then
  v AS (SELECT series, hr, CASE name
          WHEN 'activePower' THEN CASE WHEN (hr + 7) % 24 >= 18 OR (hr + 7) % 24 < 6 THEN 1700 + 200 * sin(series + k) ELSE 15 END
          WHEN 'activeEnergy' THEN CASE WHEN (hr + 7) % 24 >= 18 OR (hr + 7) % 24 < 6 THEN 1700 + 200 * sin(series + k) ELSE 15 END
          WHEN 'lampsFailed' THEN ((series + k) % 29 = 0)
          ELSE 2 + sin(series + k) END AS x FROM r)
  INSERT OR REPLACE INTO rollup (tier, series, start, count, min, max, sum, last, delta)
  SELECT 1, series, hr * 3600000, 3600, x, x, 3600 * x, x, x / 1000 FROM v;
  WITH RECURSIVE mm(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM mm WHERE k < 120)
  INSERT OR REPLACE INTO rollup (tier, series, start, count, min, max, sum, last, delta)
  SELECT 0, m.id, ((strftime('%s','now') / 60) - k) * 60000, 60, 1, 3, 120, 2, 0.01
  FROM mm, metric m;"
start_gateway "$T/gw.conf"
wait_until 30 port_busy "$HP" || fail "no page"
wait_for 60 '[ "$(grep -o "\"state\":\"online\"" "$T/data/status.json" 2>/dev/null | wc -l)" -ge "$N" ]' || fail "not all devices online"
wait_for 60 '"$WARDGW" status -c "$T/gw.conf" 2>/dev/null | grep -q "cab-down .* offline"' || fail "cab-down never offline"
page() { curl -s -D "$T/h.txt" -o "$T/page.html" "http://127.0.0.1:$HP$1"; tr -d '\r' < "$T/h.txt" | sed -n 's/^Server-Timing: render;dur=//p'; }
median() { sort -n | sed -n 5p; }
# the first request computes the KPI windows and the hourly figures; the
# next ones reuse them until a minute (or an hour) closes or a device changes state
r0=$(page "/")
all1=$(for _ in $(seq 9); do page "/"; done); r1=$(echo "$all1" | median)
b1=$(stat -c %s "$T/page.html"); cp "$T/page.html" "$T/ward.html"
gz=$(gzip -c "$T/page.html" | wc -c)
echo "status page, $N cabinets, $(sqlite3 "$T/data/wardgw.db" 'SELECT count(*) FROM rollup') rollup rows:"
echo "  /: $b1 bytes ($gz gzipped), rendered in $r1 ms (server, median of 9: $(echo $all1)); the first request $r0 ms"
if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/device?name=cab-001")" = 200 ]; then
	r2=$(for _ in $(seq 9); do page "/device?name=cab-001"; done | median)
	echo "  /device?name=cab-001: $(stat -c %s "$T/page.html") bytes, rendered in $r2 ms"
	r3=$(for _ in $(seq 9); do page "/?state=offline"; done | median)
	echo "  /?state=offline: $(stat -c %s "$T/page.html") bytes, rendered in $r3 ms"
fi
if [ -n "${SHOT:-}" ]; then
	timeout 90 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$T/chrome" --hide-scrollbars \
		--accept-lang="${SHOT_LANG:-en}" --window-size=1000,"${SHOT_H:-2600}" --screenshot="$T/shot.png" \
		"http://127.0.0.1:$HP/" > /dev/null 2>&1 || fail "chromium --screenshot failed"
	cp "$T/shot.png" "$SHOT"
	echo "  screenshot: $SHOT ($(stat -c %s "$SHOT") bytes)"
fi
