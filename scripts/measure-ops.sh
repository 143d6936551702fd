#!/usr/bin/env bash
# Measures the operations side on a simulated ward of 54 devices (50
# cabinets, 2 SDM120, 2 DDS238, 1 s polling): status page render time (with
# a day of 1 s samples behind the chart), page and /metrics size, RSS,
# reload time, `wardgw status` time. Prints figures; asserts nothing.
# Usage: scripts/measure-ops.sh   (after make)
. "$(dirname "$0")/../tests/integration/lib.sh"

MQ=$(free_port) BASE=$(free_port 54) HP=$(free_port)
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 50 --sdm120 2 --dds238 2
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab\"; count = 50; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; },
  { name = \"sdm\"; count = 2; host = \"127.0.0.1\"; port = $((BASE + 50)); profile = \"sdm120\"; },
  { name = \"dds\"; count = 2; host = \"127.0.0.1\"; port = $((BASE + 52)); profile = \"dds238\"; }" "
http = { listen = \"127.0.0.1:$HP\"; };
kpis = ( { name = \"online\"; aggregate = \"availability\"; window = \"15m\"; target = { op = \">=\"; value = 0.99; }; } );"

# a day of 1 s samples for cab-001 activePower, with their minute rollups
# (as the gateway would have made them), written in the row layout of
# schema 4 that the gateway converts to chunks when it starts
mkdir -p "$T/data"
sqlite3 "$T/data/wardgw.db" < "$ROOT/tests/integration/fixtures/schema-v4.sql"
sqlite3 "$T/data/wardgw.db" "
  INSERT INTO device (id, name) VALUES (1, 'cab-001');
  INSERT INTO metric (id, device_id, name, unit) VALUES (1, 1, 'activePower', 'W');
  WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 86400)
  INSERT INTO sample (series, ts, value, quality)
  SELECT 1, (strftime('%s','now') - 86400 + i) * 1000 - 5000, 2000 + 500 * sin(i / 8000.0), 0 FROM s ORDER BY 2;
  INSERT OR REPLACE INTO rollup (tier, series, start, count, min, max, sum, last, delta)
  SELECT 0, x.series, x.ts / 60000 * 60000, count(*), min(x.value), max(x.value), sum(x.value), max(x.value), 0
  FROM sample x WHERE x.ts < (strftime('%s','now') - 3600) * 1000 GROUP BY 3"
start_gateway "$T/gw.conf"
wait_until 20 port_busy "$HP" || fail "no page"
wait_for 30 '"$WARDGW" status -c "$T/gw.conf" > /dev/null 2>&1; [ $? -le 1 ] && [ "$(grep -o "\"state\":\"online\"" "$T/data/status.json" | wc -l)" -ge 54 ]' ||
	fail "not all devices online"
sleep 5
page() { curl -s -D "$T/h.txt" -o "$T/page.html" "http://127.0.0.1:$HP/$1"; tr -d '\r' < "$T/h.txt" | sed -n 's/^Server-Timing: render;dur=//p'; }
r1=$(for _ in 1 2 3 4 5; do page "?device=cab-001&metric=activePower"; done | sort -n | sed -n 3p)
b1=$(stat -c %s "$T/page.html")
pts1=$(grep -o '[0-9]* points of [0-9]* min' "$T/page.html")
r2=$(for _ in 1 2 3 4 5; do page "?device=cab-002&metric=activePower"; done | sort -n | sed -n 3p)
# the same day without rollups (raw samples only: an imported or fresh store)
sqlite3 "$T/data/wardgw.db" "DELETE FROM rollup WHERE series = (SELECT m.id FROM metric m JOIN device d ON d.id = m.device_id
                             WHERE d.name = 'cab-001' AND m.name = 'activePower')"
r3=$(for _ in 1 2 3 4 5; do page "?device=cab-001&metric=activePower"; done | sort -n | sed -n 3p)
m0=$(date +%s%N); curl -s "http://127.0.0.1:$HP/metrics" > "$T/metrics.txt"; m1=$(date +%s%N)
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$GW_PID/status")
s0=$(date +%s%N); "$WARDGW" status -c "$T/gw.conf" > /dev/null; s1=$(date +%s%N)
kill -HUP "$GW_PID"
wait_until 10 grep -q 'reload: config .* applied' "$T/gateway.log" || fail "reload"
rl=$(sed -n 's/.*applied in \([0-9.]*\) ms.*/\1/p' "$T/gateway.log" | tail -1)
lag=$(sed -n 's/^wardgw_loop_lag_max_seconds //p' "$T/metrics.txt")
echo "ops figures, 54 devices at 1 s:"
echo "  page render (server, median of 5), chart over a day (1,440 minute rollups + raw): $r1 ms; page $b1 bytes; $pts1"
echo "  page render, chart over a few minutes of samples:                 $r2 ms"
echo "  page render, chart over 86400 raw samples without rollups:        $r3 ms"
echo "  /metrics: $(stat -c %s "$T/metrics.txt") bytes, $(grep -vc '^#' "$T/metrics.txt") samples, $(( (m1 - m0) / 1000000 )) ms with curl"
echo "  wardgw status: $(( (s1 - s0) / 1000000 )) ms; gateway RSS $rss kB; worst loop lag so far ${lag} s"
echo "  reload (SIGHUP, 54 devices unchanged): $rl ms"
