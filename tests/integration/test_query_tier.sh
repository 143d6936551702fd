#!/usr/bin/env bash
# wardgw query --tier: a series' rollups from the database a gateway made
# (rows written here with sqlite3, as the gateway writes them): CSV and
# JSON, the range on the window start, other series and tiers left out,
# a NULL printed empty (CSV) or null (JSON), a bad tier refused.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) DEV=$(free_port)
start_mosquitto "$MQ"
write_config "$T/gw.conf" "$MQ" "{ name = \"cab-001\"; host = \"127.0.0.1\"; port = $DEV; profile = \"lighting-cabinet\"; }"
# a gateway creates the database (its device never answers), and stops
"$WARDGW" run -c "$T/gw.conf" --run-secs 2 > "$T/gateway.log" 2>&1 || fail "the gateway did not run"
DB="$T/data/wardgw.db"
[ -f "$DB" ] || fail "no database"
id=$(sqlite3 "$DB" "SELECT m.id FROM metric m JOIN device d ON d.id = m.device_id WHERE d.name = 'cab-001' AND m.name = 'lampsOn'")
other=$(sqlite3 "$DB" "SELECT m.id FROM metric m JOIN device d ON d.id = m.device_id WHERE d.name = 'cab-001' AND m.name != 'lampsOn' LIMIT 1")
[ -n "$id" ] && [ -n "$other" ] || fail "the gateway registered no series"
h=$(( ($(date +%s) / 3600 - 48) * 3600000 ))
{
	echo "BEGIN;"
	for i in $(seq 0 47); do
		echo "INSERT INTO rollup VALUES (1, $id, $((h + i * 3600000)), 60, $i, $((i + 2)), $((i * 60 + 60)), $((i + 1)), $([ $i = 5 ] && echo NULL || echo 0.5));"
		echo "INSERT INTO rollup VALUES (1, $other, $((h + i * 3600000)), 60, -1, -1, -60, -1, NULL);"
	done
	echo "INSERT INTO rollup VALUES (0, $id, $h, 1, 7, 7, 7, 7, NULL);"
	echo "INSERT INTO rollup VALUES (2, $id, $h, 1440, 0, 49, 0, 48, 24);"
	echo "COMMIT;"
} | sqlite3 "$DB" || fail "cannot write the rollups"

# hours 3..9 (from is inside hour 2: it starts at hour 3; to is excluded)
"$WARDGW" query -c "$T/gw.conf" --device cab-001 --metric lampsOn --tier hour \
	--from $(( (h + 2 * 3600000 + 1000) / 1000 )) --to $(( (h + 10 * 3600000) / 1000 )) > "$T/h.csv" 2> "$T/h.err" ||
	fail "query --tier hour: $(cat "$T/h.err")"
[ "$(head -1 "$T/h.csv")" = "time,ts_ms,count,min,max,avg,last,delta" ] || fail "header: $(head -1 "$T/h.csv")"
[ "$(tail -n +2 "$T/h.csv" | wc -l)" = 7 ] || fail "rows: $(cat "$T/h.csv")"
[ "$(sed -n 2p "$T/h.csv" | cut -d, -f2-)" = "$((h + 3 * 3600000)),60,3,5,4,4,0.5" ] || fail "hour 3: $(sed -n 2p "$T/h.csv")"
[ "$(sed -n 4p "$T/h.csv" | cut -d, -f2-)" = "$((h + 5 * 3600000)),60,5,7,6,6," ] || fail "hour 5 (NULL delta): $(sed -n 4p "$T/h.csv")"
grep -q ',-1,' "$T/h.csv" && fail "another series' rows printed"
ok "--tier hour: 7 hours in [from, to), values, a NULL as an empty field, no other series"

"$WARDGW" query -c "$T/gw.conf" --device cab-001 --metric lampsOn --tier day --from -30d --format json > "$T/d.json" ||
	fail "query --tier day"
[ "$(jq '.rollups | length' "$T/d.json")" = 1 ] && [ "$(jq '.rollups[0].delta' "$T/d.json")" = 24 ] &&
	[ "$(jq -r '.tier' "$T/d.json")" = day ] || fail "--tier day: $(cat "$T/d.json")"
"$WARDGW" query -c "$T/gw.conf" --device cab-001 --metric lampsOn --tier hour --from -30d --format json > "$T/h.json"
[ "$(jq '.rollups | length' "$T/h.json")" = 48 ] && [ "$(jq '.rollups[5].delta' "$T/h.json")" = null ] ||
	fail "--tier hour JSON: $(head -c 300 "$T/h.json")"
ok "--tier day and JSON: the day row, 48 hours, null for NULL"

"$WARDGW" query -c "$T/gw.conf" --device cab-001 --metric lampsOn --tier week > /dev/null 2> "$T/w.err"
rc=$?
[ "$rc" = 2 ] && grep -q -- '--tier must be minute, hour or day' "$T/w.err" || fail "a bad tier: exit $rc, $(cat "$T/w.err")"
"$WARDGW" query -c "$T/gw.conf" --device nope --metric lampsOn --tier hour > /dev/null 2> "$T/n.err"
rc=$?
[ "$rc" = 1 ] && grep -q 'no series nope/lampsOn' "$T/n.err" || fail "no series: exit $rc, $(cat "$T/n.err")"
ok "a bad tier: exit 2; an unknown series: exit 1"
