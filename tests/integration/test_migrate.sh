#!/usr/bin/env bash
# Migration in place: a database of today's schema (4, one row per sample;
# tests/integration/fixtures/schema-v4.sql) with 210,000 samples (integers,
# decimals, NULLs of failed reads, every quality, equal timestamps, a
# week-old batch stored last, a device no longer configured) is converted
# to compressed chunks on the gateway's first start: a progress line,
# schema 6 (5: chunks, 6: head.log_id), the old table gone, and every sample still there as it was.
. "$(dirname "$0")/lib.sh"

DB="$T/data/wardgw.db"
mkdir -p "$T/data"
now=$(date +%s%3N)
end=$((now - 3600000)) n=30000
sqlite3 "$DB" < "$ROOT/tests/integration/fixtures/schema-v4.sql" || fail "cannot build the schema 4 fixture"
sqlite3 "$DB" "
  INSERT INTO device (id, name) VALUES (1, 'cab-001'), (2, 'cab-002'), (3, 'old-cab');
  INSERT INTO metric (id, device_id, name, unit) VALUES
    (1, 1, 'lampsOn', 'count'), (2, 1, 'supplyVoltage', 'V'), (3, 1, 'activeEnergy', 'kWh'),
    (4, 2, 'lampsOn', 'count'), (5, 2, 'supplyVoltage', 'V'), (6, 2, 'activeEnergy', 'kWh'),
    (7, 3, 'temperature', 'Cel');
  WITH RECURSIVE i(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM i WHERE k + 1 < $n)
  INSERT INTO sample (series, ts, value, quality)
    SELECT m.id, $end - ($n - k) * 1000 + (k % 3),
           CASE WHEN k % 1000 = 7 THEN NULL
                WHEN m.name = 'lampsOn' THEN k % 40
                WHEN m.name = 'supplyVoltage' THEN 230 + (k % 7) * 0.5
                WHEN m.name = 'activeEnergy' THEN 1000 + k * 0.25
                ELSE -5 + (k % 100) * 0.125 END,
           CASE WHEN k % 1000 = 7 THEN 2 WHEN k % 500 = 3 THEN 3 WHEN k % 777 = 1 THEN 1 ELSE 0 END
    FROM i, metric m WHERE m.id <= 6 OR k < $n;
  -- equal timestamps, and a week-old batch arriving last
  INSERT INTO sample (series, ts, value, quality) SELECT series, ts, value + 1, quality FROM sample
    WHERE series = 1 ORDER BY ts DESC LIMIT 50;
  WITH RECURSIVE i(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM i WHERE k + 1 < 600)
  INSERT INTO sample (series, ts, value, quality) SELECT 5, $end - 7 * 86400000 + k * 1000, 231.5, 0 FROM i;
" || fail "cannot fill the fixture"
rows=$(sqlite3 "$DB" 'SELECT count(*) FROM sample')
[ "$rows" = $((7 * n + 650)) ] || fail "fixture has $rows rows"
old1=$(sqlite3 "$DB" 'SELECT count(*) FROM sample WHERE series = 1')
# the same dump wardgw query --all prints, values normalised for comparison
norm() { awk -F, -v OFS=, '{ if ($4 != "") $4 = sprintf("%.6f", $4); print }' | LC_ALL=C sort; }
sqlite3 -separator , "$DB" "
  SELECT d.name, m.name, s.ts, s.value,
         CASE s.quality WHEN 0 THEN 'good' WHEN 1 THEN 'stale' WHEN 2 THEN 'comm_error' ELSE 'out_of_range' END
  FROM sample s JOIN metric m ON m.id = s.series JOIN device d ON d.id = m.device_id" | norm > "$T/want"
[ "$(wc -l < "$T/want")" = "$rows" ] || fail "fixture dump has $(wc -l < "$T/want") of $rows rows"

MQ=$(free_port) BASE=$(free_port 2)
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 2 --sdm120 0 --dds238 0
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab\"; count = 2; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; }"
# a reader refuses the old schema and says what to do
"$WARDGW" query -c "$T/gw.conf" --all > /dev/null 2> "$T/ro.err" && fail "wardgw query read a schema 4 store"
grep -q 'schema version 4, this wardgw reads 6 (start the gateway once' "$T/ro.err" || fail "reader: $(cat "$T/ro.err")"
start_gateway "$T/gw.conf"
wait_until 60 grep -q 'converted all' "$T/gateway.log" || fail "no conversion: $(grep store "$T/gateway.log" | tail -3)"
grep -q "converting $rows samples to compressed chunks (schema 5)" "$T/gateway.log" || fail "no progress line"
grep -q "converted 100000 of $rows samples" "$T/gateway.log" || fail "no intermediate progress line"
wait_for 20 '[ "$(sample_count "$T/gw.conf" cab-001 lampsOn)" -gt 0 ]' || fail "no new samples after the conversion"
stop_pid "$GW_PID"
ok "$(grep -o 'converted all.*' "$T/gateway.log")"

[ "$(sqlite3 "$DB" 'PRAGMA user_version')" = 6 ] || fail "schema $(sqlite3 "$DB" 'PRAGMA user_version')"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM pragma_table_info('head') WHERE name = 'log_id'")" = 1 ] || fail "no head.log_id (schema 6)"
[ -z "$(sqlite3 "$DB" "SELECT name FROM sqlite_master WHERE name = 'sample'")" ] || fail "the sample table is still there"
[ "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check"
"$WARDGW" query -c "$T/gw.conf" --all --to "$(((end + 1000) / 1000))" | tail -n +2 | norm > "$T/got"
if ! cmp -s "$T/want" "$T/got"; then
	diff "$T/want" "$T/got" | head -5
	fail "after the migration: $(wc -l < "$T/got") samples up to the fixture's end, $rows before; they differ"
fi
ok "all $rows samples of schema 4 (7 series, NULLs, 4 qualities, equal times, a week-old batch, an unconfigured device) unchanged after the migration"
# the converted history and the new samples read together
n=$(sample_count "$T/gw.conf" cab-001 lampsOn)
[ "$n" -gt "$old1" ] || fail "cab-001/lampsOn: $n samples in the last day, $old1 converted"
ok "cab-001/lampsOn: $n samples in the last day: the $old1 converted and $((n - old1)) new"
