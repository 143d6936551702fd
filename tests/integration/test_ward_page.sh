#!/usr/bin/env bash
# The status page as a person sees it, checked in a real headless Chromium
# (--dump-dom) with screenshots kept: the ward first (a red flag in words,
# the KPI block before the device table), the map (cabinets placed, the
# dead spots of an imported drive test), the device table filtered by
# state and group without JavaScript, a device page with a chart per
# metric, /map.geojson, and the page in Vietnamese (Accept-Language or
# ?lang=vi). The gateway runs under LANG=vi_VN.UTF-8 (generated or not):
# its --live line and `wardgw status` speak Vietnamese, and a browser
# asking for English gets English.
. "$(dirname "$0")/lib.sh"

command -v chromium > /dev/null || fail "chromium is not installed (scripts/install-deps.sh installs it)"
"$SIM" survey --out "$T/survey.csv" --boundary "$T/ward.geojson" --time $(( $(date +%s) - 3600 )) \
	2> "$T/gen.log" || fail "survey generator failed"
read -r LONW LATS LONE LATN < <(jq -r '.geometry.coordinates[0] | "\(.[0][0]) \(.[0][1]) \(.[2][0]) \(.[2][1])"' "$T/ward.geojson")
# a point at fractions ($1, $2) of the ward's width and height
at() { awk -v a="$1" -v b="$2" -v w="$LONW" -v s="$LATS" -v e="$LONE" -v n="$LATN" \
	'BEGIN { printf "lat = %.6f; lon = %.6f;", s + b * (n - s), w + a * (e - w) }'; }

MQ=$(free_port) BASE=$(free_port 5) HP=$(free_port)
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 3 --sdm120 1 --dds238 0
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab-001\"; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; $(at 0.2 0.8) },
  { name = \"cab-002\"; host = \"127.0.0.1\"; port = $((BASE + 1)); profile = \"lighting-cabinet\"; $(at 0.5 0.5) },
  { name = \"cab-003\"; host = \"127.0.0.1\"; port = $((BASE + 2)); profile = \"lighting-cabinet\"; $(at 0.8 0.2) },
  { name = \"sdm\"; host = \"127.0.0.1\"; port = $((BASE + 3)); profile = \"sdm120\"; },
  { name = \"ghost\"; host = \"127.0.0.1\"; port = $((BASE + 4)); profile = \"lighting-cabinet\"; $(at 0.6 0.9) }" "
http = { listen = \"127.0.0.1:$HP\"; };
groups = ( { name = \"north\"; devices = [ \"cab-001\", \"ghost\" ]; } );
coverage = { boundary_file = \"ward.geojson\"; cell_m = 100.0; window_days = 30; adjacency = 8; publish_interval_s = 10; };
kpis = (
  { name = \"lighting.online\"; aggregate = \"availability\"; window = \"1m\";
    target = { op = \">=\"; value = 0.99; deadline = \"2026-01-31\"; }; },
  { name = \"lighting.power\"; aggregate = \"sum\"; metric = \"activePower\"; window = \"1m\"; unit = \"W\"; },
  { name = \"coverage.nr_area\"; aggregate = \"coverage\"; technology = \"NR\"; window = \"1m\";
    target = { op = \">=\"; value = 0.60; }; }
);"
"$WARDGW" check -c "$T/gw.conf" > "$T/check.log" 2>&1 || fail "test config: $(cat "$T/check.log")"

# a position outside the boundary is a config error at the device's line
sed "s|$(at 0.8 0.2)|lat = $LATS; lon = $(awk -v e="$LONE" 'BEGIN { printf "%.6f", e + 0.01 }');|" "$T/gw.conf" > "$T/out.conf"
"$WARDGW" check -c "$T/out.conf" > "$T/out.txt" 2>&1 && fail "a cabinet outside the ward passed the check"
line=$(grep -n 'name = "cab-003"' "$T/out.conf" | cut -d: -f1)
grep -q "^$T/out.conf:$line: device cab-003: .* is outside the ward's boundary" "$T/out.txt" ||
	fail "no file:line error for a cabinet outside the ward: $(cat "$T/out.txt")"
sed 's|name = "cab-002"; \(.*\)lon = [0-9.]*;|name = "cab-002"; \1|' "$T/gw.conf" > "$T/half.conf"
"$WARDGW" check -c "$T/half.conf" > "$T/half.txt" 2>&1 && fail "lat without lon passed the check"
grep -q "device cab-002: give both lat and lon" "$T/half.txt" || fail "lat without lon: $(cat "$T/half.txt")"
ok "positions: outside the boundary and lat without lon are refused at file:line"

"$WARDGW" import-survey -c "$T/gw.conf" "$T/survey.csv" > "$T/import.out" 2> "$T/import.log" || fail "survey import failed"
LANG=vi_VN.UTF-8 start_gateway "$T/gw.conf" --live 1
wait_until 20 port_busy "$HP" || fail "no status page on port $HP"
URL="http://127.0.0.1:$HP"

# the map once the coverage publisher has computed it, and data for the charts
wait_for 30 'curl -s "$URL/map.geojson" > "$T/map.geojson" && jq -e "[.features[] | select(.properties.kind == \"deadspot\")] | length > 0" "$T/map.geojson" > /dev/null' ||
	fail "no dead spots in /map.geojson: $(head -c 300 "$T/map.geojson")"
wait_for 30 '"$WARDGW" status -c "$T/gw.conf" 2>/dev/null | grep -q "ghost .* offline"' || fail "ghost never offline"
wait_for 20 '[ "$(sample_count "$T/gw.conf" cab-001 activePower)" -ge 3 ]' || fail "no samples for the charts"
curl -s "$URL/map.geojson" > "$T/map.geojson"
jq -e '.type == "FeatureCollection"' "$T/map.geojson" > /dev/null || fail "map.geojson is not a FeatureCollection"
jq -e '[.features[] | select(.properties.kind == "cabinet")] | length == 4' "$T/map.geojson" > /dev/null ||
	fail "map.geojson: want 4 cabinets: $(jq -c '[.features[].properties.kind]' "$T/map.geojson")"
jq -e '[.features[] | select(.properties.kind == "boundary")][0].geometry.type == "Polygon"' "$T/map.geojson" > /dev/null ||
	fail "map.geojson has no boundary polygon"
jq -e '.features[] | select(.properties.name == "cab-002") | .geometry.coordinates | (.[0] > 100 and .[1] < 30)' \
	"$T/map.geojson" > /dev/null || fail "map.geojson: a point is not [lon, lat]"
jq -e '.features[] | select(.properties.name == "ghost") | .properties.state == "offline"' "$T/map.geojson" > /dev/null ||
	fail "map.geojson: ghost is not offline"
NDEAD=$(jq '[.features[] | select(.properties.kind == "deadspot")] | length' "$T/map.geojson")
ok "/map.geojson: boundary, 4 cabinets as [lon, lat] points with their state, $NDEAD dead spots"

CHROME="chromium --headless --no-sandbox --disable-gpu --user-data-dir=$T/chrome --hide-scrollbars"
# English unless asked otherwise: a browser set to English, whatever the gateway's language
dom() { # $1 url, $2 output, extra chromium flags after
	timeout 90 $CHROME --accept-lang=en-US,en --virtual-time-budget=3000 "${@:3}" --dump-dom "$1" > "$2" 2>> "$T/chrome.log" ||
		fail "chromium --dump-dom $1 failed: $(tail -3 "$T/chrome.log")"
}
shot() { # $1 url, $2 png, extra flags after
	timeout 90 $CHROME --accept-lang=en-US,en --window-size=1000,2400 "${@:3}" --screenshot="$2" "$1" >> "$T/chrome.log" 2>&1 ||
		fail "chromium --screenshot failed: $(tail -3 "$T/chrome.log")"
	[ "$(head -c 8 "$2" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] || fail "$2 is not a PNG"
	[ "$(stat -c %s "$2")" -gt 20000 ] || fail "$2 is suspiciously small"
	mkdir -p "$ROOT/$B"
	cp "$2" "$ROOT/$B/"
}
pos() { grep -bo "$1" "$2" | head -1 | cut -d: -f1; }

# --- the ward page, English
dom "$URL/" "$T/ward.html"
for id in 'id="ward"' 'id="kpis"' 'id="attention"' 'id="ward-map"' 'id="devices"'; do
	[ -n "$(pos "$id" "$T/ward.html")" ] || fail "the page has no $id"
done
[ "$(pos 'id="kpis"' "$T/ward.html")" -lt "$(pos 'id="devices"' "$T/ward.html")" ] || fail "the KPI block is not before the device table"
[ "$(pos 'id="attention"' "$T/ward.html")" -lt "$(pos 'id="devices"' "$T/ward.html")" ] ||
	fail "what needs a person is not before the device table"
grep -q '<p class="flag red_flag">⚑ RED FLAG: lighting.online is ' "$T/ward.html" ||
	fail "no red flag in words for lighting.online: $(grep -o '<section id="ward">.\{0,600\}' "$T/ward.html")"
# red flags first in the KPI table
first=$(grep -o '<table id="kpis">.*' "$T/ward.html" | grep -o '<tr><td>[a-z_.]*' | head -1)
[ "$first" = '<tr><td>lighting.online' ] || fail "the red flag is not the first KPI row: $first"
grep -q '<td class="offline">offline (no connection)</td>' "$T/ward.html" || fail "ghost not shown offline"
grep -q '<table id="problems">.*>ghost</a>' "$T/ward.html" || fail "ghost is not under 'needs a person'"
ncab=$(grep -o '<rect class="dev cabinet' "$T/ward.html" | wc -l)
[ "$ncab" = 4 ] || fail "the map shows $ncab cabinets, want 4"
grep -q '<rect class="dev cabinet offline"' "$T/ward.html" || fail "ghost is not red on the map"
ndom=$(grep -o '<path class="deadspot"' "$T/ward.html" | wc -l)
[ "$ndom" = "$NDEAD" ] || fail "the map shows $ndom dead spots, /map.geojson $NDEAD"
grep -q '<a href="/device?name=cab-002"><rect' "$T/ward.html" || fail "a cabinet on the map does not link to its page"
nrows=$(grep -o '<table id="devices">.*</table>' "$T/ward.html" | grep -o '<tr><td><a' | wc -l)
[ "$nrows" = 5 ] || fail "the device table has $nrows rows, want 5"
grep -q '<svg id="ward-activePower"' "$T/ward.html" || fail "no ward power chart"
grep -q '<script' "$T/ward.html" && fail "the page has a script"
ok "ward page: red flag in words and first, KPIs before devices, map with 4 cabinets and $ndom dead spots, 5 compact rows"
shot "$URL/" "$T/ward-page-en.png"

# --- filters by query parameters (no JavaScript)
dom "$URL/?state=offline" "$T/offline.html"
rows=$(grep -o '<table id="devices">.*</table>' "$T/offline.html" | grep -o 'name=[a-z0-9-]*">' | tr '\n' ' ')
[ "$rows" = 'name=ghost"> ' ] || fail "state=offline lists: $rows"
dom "$URL/?group=north&state=online" "$T/north.html"
rows=$(grep -o '<table id="devices">.*</table>' "$T/north.html" | grep -o 'name=[a-z0-9-]*">' | tr '\n' ' ')
[ "$rows" = 'name=cab-001"> ' ] || fail "group=north&state=online lists: $rows"
grep -q '<option selected="">north</option>\|<option selected>north</option>' "$T/north.html" || fail "the group filter is not kept in the form"
curl -s -H 'Accept-Language: en' "$URL/?state=%3Cb%3E&group=nowhere" > "$T/bad.html"
grep -q 'unknown filter ignored' "$T/bad.html" || fail "a bad filter is not reported"
grep -q '&lt;b&gt;\|<b>x' "$T/bad.html" && fail "a filter value reached the page"
ok "filters: state=offline lists ghost, group=north&state=online lists cab-001, a bad filter is ignored and said"

# --- a device page: a chart for each metric
nregs=$(grep -c 'metric *=' "$ROOT/config/profiles/lighting-cabinet.conf")
dom "$URL/device?name=cab-001" "$T/device.html"
ncharts=$(grep -o '<svg id="chart-[0-9]*" class="chart"' "$T/device.html" | wc -l)
[ "$ncharts" = "$nregs" ] || fail "the device page has $ncharts charts, the profile $nregs metrics"
grep -q '<polyline' "$T/device.html" || fail "no line in the device charts"
grep -q '<table id="values">' "$T/device.html" || fail "no values table on the device page"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/device?name=nobody")
[ "$code" = 200 ] && curl -s -H 'Accept-Language: en' "$URL/device?name=nobody" | grep -q 'No device has this name' || fail "an unknown device: HTTP $code"
ok "device page: $ncharts charts (one per metric) with lines, values table"
shot "$URL/device?name=cab-001" "$T/device-page.png"

# the page's own figures, for the record
render=$(curl -s -D - -o "$T/page.html" "$URL/" | tr -d '\r' | sed -n 's/^Server-Timing: render;dur=//p')
ok "ward page: $(stat -c %s "$T/page.html") bytes, rendered in $render ms (5 devices)"

# --- Vietnamese: the page by Accept-Language, ?lang=vi, the --live line, wardgw status
dom "$URL/" "$T/ward-vi.html" --accept-lang=vi-VN,vi
grep -q '<html lang="vi">' "$T/ward-vi.html" || fail "Accept-Language: vi did not give a Vietnamese page"
for w in 'CỜ ĐỎ' 'Chỉ tiêu KPI của phường' 'Cần người xử lý' 'mất kết nối' 'tủ điều khiển chiếu sáng' 'vùng lõm sóng' 'Bản đồ' 'Điện năng hôm nay'; do
	grep -q "$w" "$T/ward-vi.html" || fail "the Vietnamese page lacks '$w'"
done
grep -q '<p class="flag red_flag">⚑ CỜ ĐỎ: lighting.online đang là ' "$T/ward-vi.html" || fail "no red flag in Vietnamese words"
grep -q 'activePower\|lighting.online' "$T/ward-vi.html" || fail "metric and KPI names must stay English"
[ "$(pos 'id="kpis"' "$T/ward-vi.html")" -lt "$(pos 'id="devices"' "$T/ward-vi.html")" ] || fail "vi: the KPI block is not before the device table"
curl -s -H 'Accept-Language: en-GB,en;q=0.9,vi;q=0.5' "$URL/" | grep -q '<html lang="en">' || fail "Accept-Language en before vi did not give English"
curl -s -H 'Accept-Language: en' "$URL/?lang=vi" | grep -q '<html lang="vi">' || fail "?lang=vi did not win over Accept-Language"
curl -s -D "$T/vi.h" -o /dev/null -H 'Accept-Language: vi-VN,vi;q=0.9' "$URL/"
grep -qi '^Content-Language: vi' "$T/vi.h" || fail "no Content-Language: vi header"
# no Accept-Language at all: the gateway's own language (LANG=vi_VN.UTF-8)
curl -s "$URL/" | grep -q '<html lang="vi">' || fail "without Accept-Language the page is not in the gateway's language"
ok "Vietnamese page: red flag 'CỜ ĐỎ', diacritics present, by Accept-Language, ?lang=vi and the gateway's LANG; English when asked"
shot "$URL/" "$T/ward-page-vi.png" --accept-lang=vi-VN,vi
grep -q 'thiết bị trực tuyến [0-9]*/5' "$T/gateway.log" || fail "the --live line is not in Vietnamese: $(grep -m1 'devices online\|trực tuyến' "$T/gateway.log")"
LANG=vi_VN.UTF-8 "$WARDGW" status -c "$T/gw.conf" > "$T/status-vi.txt" 2>&1
grep -q '^thiết bị:' "$T/status-vi.txt" && grep -q 'ghost .* mất kết nối' "$T/status-vi.txt" ||
	fail "wardgw status in Vietnamese: $(cat "$T/status-vi.txt")"
LANG=C.UTF-8 "$WARDGW" status -c "$T/gw.conf" | grep -q '^devices:' || fail "wardgw status is not English under C.UTF-8"
ok "the --live line and wardgw status speak Vietnamese under LANG=vi_VN.UTF-8, English under C.UTF-8"

# a clean stop after the pages, the map and both languages (under ASan: no error, no leak)
stop_pid "$GW_PID"
wait "$GW_PID"; rc=$?
[ "$rc" = 0 ] || fail "gateway exited $rc: $(grep -m3 'ERROR\|Sanitizer\|leak' "$T/gateway.log")"
ok "clean stop (exit 0)"
