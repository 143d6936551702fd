#!/usr/bin/env bash
# Coverage end to end: a simulated drive test over a 10 x 8-cell ward with a
# known NR dead zone is imported (bad rows reported by line, a second import
# counts nothing twice); the coverage figures equal the ones worked out by
# hand for that grid, the dead zone is one GeoJSON cluster at the right
# place (two with 4-adjacency); the running gateway publishes the map
# retained and the coverage KPIs with their targets and red flags.
. "$(dirname "$0")/lib.sh"

"$SIM" survey --out "$T/survey.csv" --boundary "$T/ward.geojson" --bad --time $(( $(date +%s) - 3600 )) \
	2> "$T/gen.log" || fail "survey generator failed"
# the ward: lon_w, lat_s, lon_e, lat_n from the generated boundary
read -r LONW LATS LONE LATN < <(jq -r '.geometry.coordinates[0] | "\(.[0][0]) \(.[0][1]) \(.[2][0]) \(.[2][1])"' "$T/ward.geojson")

MQ=$(free_port) BASE=$(free_port 1)
cov_conf() { # $1: adjacency, $2: extra coverage keys
	write_config "$T/gw.conf" "$MQ" "
  { name = \"cab\"; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; }" "
coverage = { boundary_file = \"ward.geojson\"; cell_m = 100.0; window_days = 30; adjacency = $1; $2 };
kpis = (
  { name = \"nr_area\"; aggregate = \"coverage\"; technology = \"NR\"; window = \"1m\";
    target = { op = \">=\"; value = 0.60; deadline = \"2026-12-31\"; }; },
  { name = \"nr_area_strict\"; aggregate = \"coverage\"; technology = \"5G\"; operator = \"Viettel\"; window = \"1m\";
    target = { op = \">=\"; value = 0.95; deadline = \"2026-06-30\"; }; },
  { name = \"nr_samples\"; aggregate = \"coverage\"; technology = \"NR\"; figure = \"samples\"; window = \"1m\"; }
);"
}
cov_conf 8 ""
"$WARDGW" check -c "$T/gw.conf" > "$T/check.log" 2>&1 || fail "config refused: $(cat "$T/check.log")"

# --- import: bad rows by line number, good rows kept, nothing counted twice
"$WARDGW" import-survey -c "$T/gw.conf" "$T/survey.csv" > "$T/import.out" 2> "$T/import.log" || fail "import failed"
bad1=$(grep -n -- ',-300,' "$T/survey.csv" | cut -d: -f1)
badlast=$(wc -l < "$T/survey.csv")
grep -q "survey.csv:$bad1: rsrp (SS-RSRP) -300 is outside -157..-31 (row skipped)" "$T/import.log" || fail "bad row $bad1 not reported: $(cat "$T/import.log")"
grep -q "survey.csv:$badlast: 3 fields, want 8" "$T/import.log" || fail "bad row $badlast not reported"
good=$(( $(grep -c . "$T/survey.csv") - 1 - 2 ))
grep -q "423 rows: $good imported, 0 already stored, 2 bad" "$T/import.out" || fail "import summary: $(cat "$T/import.out") (want $good imported)"
ok "import: $good rows kept, bad rows reported at lines $bad1 and $badlast"
"$WARDGW" import-survey -c "$T/gw.conf" "$T/survey.csv" > "$T/import2.out" 2> "$T/import2.log" || fail "second import failed"
grep -q 'already imported' "$T/import2.log" || fail "same file imported twice: $(cat "$T/import2.out")"
{ echo "# the same drive test, exported again"; cat "$T/survey.csv"; } > "$T/survey-again.csv"
"$WARDGW" import-survey -c "$T/gw.conf" "$T/survey-again.csv" > "$T/import3.out" 2>/dev/null || fail "third import failed"
grep -q ": 0 imported, $good already stored" "$T/import3.out" || fail "overlapping file double-counted: $(cat "$T/import3.out")"
n=$(sqlite3 "$T/data/wardgw.db" 'SELECT count(*) FROM coverage_sample')
[ "$n" = "$good" ] || fail "$n samples stored, want $good"
ok "importing again (same file, or the same rows in another file) adds nothing: $n samples"

# --- the figures, by hand for this grid: 80 ward cells, the north row not
# measured (70 measured), 7 dead NR cells (63 covered); 5 NR samples per
# cell, all 35 of the dead cells and one in each of the 10 cells of row 0 below
"$WARDGW" coverage -c "$T/gw.conf" --geojson "$T/dead.geojson" > "$T/coverage.txt" 2>&1 || fail "coverage failed: $(cat "$T/coverage.txt")"
nr() { jq -r --arg k "$1" '.coverage[] | select(.technology == "NR" and .operator == "Viettel") | .[$k]' "$T/dead.geojson"; }
want_area=$(awk 'BEGIN { printf "%.2f", 100 * 63 / 70 }')
want_share=$(awk 'BEGIN { printf "%.2f", 100 * 70 / 80 }')
want_samples=$(awk 'BEGIN { printf "%.2f", 100 * (350 - 35 - 10) / 350 }')
for k in area_pct:$want_area measured_pct:$want_share samples_pct:$want_samples; do
	got=$(printf '%.2f' "$(nr "${k%%:*}")")
	[ "$got" = "${k#*:}" ] || fail "NR ${k%%:*} = $got, by hand ${k#*:}"
done
[ "$(nr ward_cells)/$(nr measured_cells)/$(nr covered_cells)" = 80/70/63 ] || fail "cells: $(nr ward_cells)/$(nr measured_cells)/$(nr covered_cells)"
grep -Eq '^NR +Viettel +-110 +70 +87.5 % +63 +90.0 % +350 +87.1 % +1$' "$T/coverage.txt" || fail "summary line: $(cat "$T/coverage.txt")"
ok "NR coverage $want_area % of measured cells, $want_share % of the ward measured, $want_samples % of samples >= -110 dBm (as by hand)"

# --- the dead zone: one cluster of 7 cells, centroid at the mean of the
# cell centres (columns 2..4 of rows 2..3 and cell 5,4), RFC 7946 positions
[ "$(jq '.features | length' "$T/dead.geojson")" = 1 ] || fail "want 1 dead-spot feature: $(jq -c '.features[].properties' "$T/dead.geojson")"
p() { jq -r ".features[0].properties.$1" "$T/dead.geojson"; }
[ "$(p cells)/$(p samples)/$(p technology)/$(p operator)" = 7/35/NR/Viettel ] || fail "cluster: $(jq -c '.features[0].properties' "$T/dead.geojson")"
awk -v m="$(p median_dbm)" 'BEGIN { exit !(m >= -125 && m <= -116) }' || fail "cluster median $(p median_dbm) dBm outside the generated -125..-116"
cx=$(awk -v w="$LONW" -v e="$LONE" 'BEGIN { printf "%.6f", w + (e - w) * ((2.5 + 3.5 + 4.5) * 2 + 5.5) / 7 / 10 }')
cy=$(awk -v s="$LATS" -v n="$LATN" 'BEGIN { printf "%.6f", s + (n - s) * ((2.5 + 3.5) * 3 + 4.5) / 7 / 8 }')
gx=$(printf '%.6f' "$(jq '.features[0].properties.centroid[0]' "$T/dead.geojson")")
gy=$(printf '%.6f' "$(jq '.features[0].properties.centroid[1]' "$T/dead.geojson")")
[ "$gx,$gy" = "$cx,$cy" ] || fail "cluster centroid [$gx, $gy], by hand [$cx, $cy]"
# every position is [lon, lat] inside the ward; each ring is closed
jq -e --argjson w "$LONW" --argjson e "$LONE" --argjson s "$LATS" --argjson n "$LATN" '
  [.features[0].geometry.coordinates[][] | (.[0] == .[-1]) and all(.[]; .[0] >= $w - 1e-7 and .[0] <= $e + 1e-7 and .[1] >= $s - 1e-7 and .[1] <= $n + 1e-7)] | all' \
  "$T/dead.geojson" > /dev/null || fail "positions not [lon, lat] inside the ward, or a ring not closed"
[ "$(jq '.features[0].geometry.coordinates | length' "$T/dead.geojson")" = 7 ] || fail "MultiPolygon has not 7 cells"
ok "dead zone: one 7-cell cluster at [$gx, $gy] (by hand [$cx, $cy]), median $(p median_dbm) dBm over 35 samples"

# 4-adjacency: the corner cell is a cluster of its own
cov_conf 4 ""
"$WARDGW" coverage -c "$T/gw.conf" --geojson "$T/dead4.geojson" > /dev/null 2>&1 || fail "coverage (4-adjacency) failed"
[ "$(jq -c '[.features[].properties.cells] | sort' "$T/dead4.geojson")" = "[1,6]" ] || fail "4-adjacency clusters: $(jq -c '[.features[].properties.cells]' "$T/dead4.geojson")"
ok "with adjacency = 4 the dead zone is two clusters (6 + 1 cells)"

# population-weighted: 100 people in each covered cell, 1000 in each dead one
awk -F, -v w="$LONW" -v e="$LONE" -v s="$LATS" -v n="$LATN" 'BEGIN {
	print "lat,lon,population"
	for (iy = 0; iy < 7; iy++) for (ix = 0; ix < 10; ix++) {
		d = (ix >= 2 && ix <= 4 && iy >= 2 && iy <= 3) || (ix == 5 && iy == 4)
		printf "%.8f,%.8f,%d\n", s + (n - s) * (iy + 0.5) / 8, w + (e - w) * (ix + 0.5) / 10, d ? 1000 : 100
	}
	printf "%.8f,%.8f,%d\n", s + (n - s) * 7.5 / 8, w + (e - w) * 0.5 / 10, 5000   # not measured: not counted
}' > "$T/pop.csv"
cov_conf 8 'population_file = "pop.csv";'
"$WARDGW" coverage -c "$T/gw.conf" --geojson "$T/deadp.geojson" > "$T/coverage-pop.txt" 2>&1 || fail "coverage with population failed"
want_pop=$(awk 'BEGIN { printf "%.2f", 100 * 6300 / (6300 + 7000) }')
got_pop=$(printf '%.2f' "$(jq '.coverage[] | select(.technology == "NR" and .operator == "Viettel") | .population_pct' "$T/deadp.geojson")")
[ "$got_pop" = "$want_pop" ] || fail "population-weighted $got_pop %, by hand $want_pop %"
ok "population-weighted NR coverage $got_pop % (by hand $want_pop %)"

# --- the daemon: retained dead-spot map and the coverage KPIs via the KPI engine
cov_conf 8 "publish_interval_s = 10;"
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 1 --sdm120 0 --dds238 0
mosquitto_sub -h 127.0.0.1 -p "$MQ" -v -t 'ward/gw-test/kpi/coverage' > "$T/kpi.txt" 2>/dev/null &
PIDS="$PIDS $!"
clock_drive
start_gateway "$T/gw.conf"
wait_until 20 grep -q 'connected (session' "$T/gateway.log" || fail "gateway did not connect"
# a subscriber that comes later still gets the map (retained)
wait_for 20 'timeout 2 mosquitto_sub -h 127.0.0.1 -p "$MQ" -t ward/gw-test/coverage/deadspots -C 1 > "$T/retained.json" 2>/dev/null' \
	|| fail "no retained dead-spot map"
[ "$(jq '.features | length' "$T/retained.json")" = 1 ] && [ "$(jq '.features[0].properties.cells' "$T/retained.json")" = 7 ] \
	|| fail "retained map: $(head -c 300 "$T/retained.json")"
ok "retained map on ward/gw-test/coverage/deadspots: one 7-cell dead spot"
kpi() { grep '^ward/gw-test/kpi/coverage ' "$T/kpi.txt" | cut -d' ' -f2- | jq -c --arg k "$1" 'select(.[0].n == $k)' | head -1; }
# the window open now closes once the gateway's wall clock is moved to the next minute
clock_next_minute
wait_for 20 '[ -n "$(kpi nr_area)" ] && [ -n "$(kpi nr_area_strict)" ] && [ -n "$(kpi nr_samples)" ]' || fail "no coverage KPI packs within 20 s of the next minute"
v=$(kpi nr_area | jq -r '.[0].v * 10000 | round / 10000')
st=$(kpi nr_area | jq -r '.[] | select(.n == "nr_area/status") | .vs')
sq=$(kpi nr_area | jq -r '.[] | select(.n == "nr_area/seq") | .v')
u=$(kpi nr_area | jq -r '.[0].u')
[ "$v/$st/$sq/$u" = "0.9/ok/1//" ] || fail "nr_area pack: $(kpi nr_area)"
st2=$(kpi nr_area_strict | jq -r '.[] | select(.n == "nr_area_strict/status") | .vs')
[ "$st2" = red_flag ] || fail "nr_area_strict (95 % by 2026-06-30) status $st2, want red_flag"
v3=$(kpi nr_samples | jq -r '.[0].v * 10000 | round / 10000')
[ "$v3" = "$(awk 'BEGIN { printf "%.4g", 305 / 350 }')" ] || fail "nr_samples $v3"
ok "KPI packs: nr_area 0.9 (ok against >= 0.6, seq 1), nr_area_strict red_flag, nr_samples $v3"
"$WARDGW" kpi -c "$T/gw.conf" --kpi nr_area > "$T/kpi-cli.txt" 2>&1 || fail "wardgw kpi failed"
grep -q 'nr_area .* 0.9 / .*target >= 0.6' "$T/kpi-cli.txt" || fail "wardgw kpi: $(cat "$T/kpi-cli.txt")"
ok "wardgw kpi shows the coverage KPI"

# issue 15 item 16: a gateway that only keeps coverage needs no Modbus device
stop_pid "$GW_PID"
sed '/^devices = (/,/);$/d; /^device_defaults = /d' "$T/gw.conf" > "$T/nodev.conf"
"$WARDGW" check -c "$T/nodev.conf" > "$T/nodev-check.log" 2>&1 || fail "coverage-only config refused: $(cat "$T/nodev-check.log")"
start_gateway "$T/nodev.conf"
wait_until 20 grep -q 'connected (session' "$T/gateway.log" || fail "coverage-only gateway did not connect: $(tail -5 "$T/gateway.log")"
"$WARDGW" coverage -c "$T/nodev.conf" > "$T/nodev-cov.txt" 2>&1 || fail "wardgw coverage without devices"
stop_pid "$GW_PID"
grep -q 'error\|BUG' "$T/gateway.log" && fail "coverage-only gateway: $(grep 'error\|BUG' "$T/gateway.log")"
ok "a config with coverage and no devices: checked, run and stopped cleanly"

# issue 15 item 16: "any" has the dead spots too (cells no operator covers)
grep -Eq '^NR +any .* [1-9][0-9]* *$' "$T/nodev-cov.txt" || fail "no dead spot for NR any: $(cat "$T/nodev-cov.txt")"
ok "wardgw coverage: NR any has $(awk '$1 == "NR" && $2 == "any" { print $NF }' "$T/nodev-cov.txt") dead spots"

# issue 15 item 4: a survey row's reason quotes the row; terminal escapes in
# it are printed escaped, one line per row
printf 'time,lat,lon,technology,operator,rsrp,rsrq,sinr\n%s,11.83,106.99,NR,\033]0;pwned\007\033[2J,-90,,\n' "$(date +%s)" > "$T/esc.csv"
"$WARDGW" import-survey -c "$T/nodev.conf" "$T/esc.csv" > /dev/null 2> "$T/esc.err"
grep -qF "operator '\\x1b]0;pwned\\x07\\x1b[2J' must be" "$T/esc.err" || fail "escaped reason: $(cat -v "$T/esc.err")"
! grep -q $'\x1b' "$T/esc.err" || fail "an ESC byte reached the terminal"
ok "import-survey: a row with terminal escapes is reported escaped"
