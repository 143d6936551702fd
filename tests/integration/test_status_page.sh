#!/usr/bin/env bash
# The technician's view: `wardgw status`, the HTTP status page checked in a
# real headless Chromium (it loads, lists the simulated devices, draws an
# SVG chart; a screenshot is kept), /metrics parsed as Prometheus text,
# /healthz, and a token that is required when configured.
. "$(dirname "$0")/lib.sh"

command -v chromium > /dev/null || fail "chromium is not installed (scripts/install-deps.sh installs it)"
MQ=$(free_port) BASE=$(free_port 3) HP=$(free_port)
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 2 --sdm120 1 --dds238 0
TOKEN=tech-$RANDOM$RANDOM
printf '%s\n' "$TOKEN" > "$T/token"
chmod 600 "$T/token"
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab\"; count = 2; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; },
  { name = \"sdm\"; host = \"127.0.0.1\"; port = $((BASE + 2)); profile = \"sdm120\"; },
  { name = \"ghost\"; host = \"127.0.0.1\"; port = $((BASE + 3)); profile = \"sdm120\"; }" "
http = { listen = \"127.0.0.1:$HP\"; token_file = \"$T/token\"; };
kpis = ( { name = \"online\"; aggregate = \"availability\"; window = \"1m\"; target = { op = \">=\"; value = 0.99; }; } );"
# markup in a config value must reach the page escaped
sed -i 's|ward = "test ward"|ward = "Ward <b>7</b> \& \\"co\\" <script>x</script>"|' "$T/gw.conf"
"$WARDGW" check -c "$T/gw.conf" > /dev/null || fail "test config: $("$WARDGW" check -c "$T/gw.conf" 2>&1)"

# off loopback without a token or a password: a config error at file:line
sed "s|listen = \"127.0.0.1:$HP\"; token_file = \"$T/token\";|listen = \"0.0.0.0:$HP\";|" "$T/gw.conf" > "$T/open.conf"
"$WARDGW" check -c "$T/open.conf" > "$T/open.txt" 2>&1 && fail "an open non-loopback page passed the check"
line=$(grep -n '^http = ' "$T/open.conf" | cut -d: -f1)
grep -q "^$T/open.conf:$line: http listens on 0.0.0.0:$HP, which is not loopback" "$T/open.txt" ||
	fail "no file:line error for an open page: $(cat "$T/open.txt")"
ok "a page on 0.0.0.0 without a token is refused: $(head -1 "$T/open.txt" | cut -c1-90)..."

# a token file others can read is refused at start
chmod 644 "$T/token"
"$WARDGW" run -c "$T/gw.conf" --run-secs 5 > "$T/refused.log" 2>&1 && fail "started with a world-readable token file"
grep -q 'readable by group or others' "$T/refused.log" || fail "no reason given: $(cat "$T/refused.log")"
chmod 600 "$T/token"
ok "a world-readable token file is refused"

start_gateway "$T/gw.conf"
wait_until 20 port_busy "$HP" || fail "no status page on port $HP"
URL="http://127.0.0.1:$HP"

# wardgw status: from the snapshot the running gateway writes
wait_for 30 '"$WARDGW" status -c "$T/gw.conf" > "$T/status.txt" 2>&1; [ $? = 1 ] && grep -q "cab-002 .* online" "$T/status.txt" && grep -q "ghost .* offline" "$T/status.txt"' ||
	fail "wardgw status: $(cat "$T/status.txt")"
grep -q '^  link      up' "$T/status.txt" || fail "status has no link line: $(cat "$T/status.txt")"
grep -q 'modbus-tcp   degraded  4 devices' "$T/status.txt" || fail "status sources: $(cat "$T/status.txt")"
ok "wardgw status: link up, cab-002 online, ghost offline with its error, exit 1 (trouble)"

# without the token: refused, everywhere but /healthz
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/")
[ "$code" = 401 ] || fail "page without a token: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/metrics?token=wrong")
[ "$code" = 401 ] || fail "metrics with a wrong token: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/metrics")
[ "$code" = 200 ] || fail "metrics with a bearer token: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x=1 "$URL/?token=$TOKEN")
case $code in 405|501) ;; *) fail "POST: HTTP $code" ;; esac
ok "no token or a wrong one: 401; bearer token: 200; POST: $code (only GET and HEAD)"
code=$(curl -s -o "$T/healthz.txt" -w '%{http_code}' "$URL/healthz")
[ "$code" = 200 ] && grep -qx ok "$T/healthz.txt" || fail "/healthz: HTTP $code $(cat "$T/healthz.txt")"
ok "/healthz: 200 ok"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/?device=$(printf 'x%.0s' $(seq 1100))&token=$TOKEN")
[ "$code" = 414 ] || fail "a 1100-byte query: HTTP $code"
ok "an over-long query string: 414"

# samples for the chart
wait_for 20 '[ "$(sample_count "$T/gw.conf" cab-001 activePower)" -ge 3 ]' || fail "no samples for the chart"

# the page in a real browser, phone-sized
CHROME="chromium --headless --no-sandbox --disable-gpu --user-data-dir=$T/chrome --hide-scrollbars"
PAGE="$URL/?token=$TOKEN"
t0=$(date +%s%N)
timeout 90 $CHROME --virtual-time-budget=5000 --dump-dom "$PAGE" > "$T/dom.html" 2> "$T/chrome.log" ||
	fail "chromium --dump-dom failed: $(tail -3 "$T/chrome.log")"
t1=$(date +%s%N)
for d in cab-001 cab-002 sdm ghost; do
	grep -q "<td><a href=\"/device?name=$d&amp;token=$TOKEN\">$d</a></td>" "$T/dom.html" ||
		fail "the page does not list $d (with the token in its link)"
done
grep -q 'class="offline">offline (no connection)' "$T/dom.html" || fail "ghost is not shown offline"
pg=$(grep -bo '>ghost</a>' "$T/dom.html" | head -1 | cut -d: -f1) pc=$(grep -bo '>cab-001</a>' "$T/dom.html" | head -1 | cut -d: -f1)
[ "$pg" -lt "$pc" ] || fail "the offline device is not listed first (under 'needs a person')"
grep -q '<table id="kpis">' "$T/dom.html" || fail "no KPI table"
# the availability KPI's open window: below its 0.99 target with ghost offline
grep -Eq '<td>[0-9.]+ % <span class="small (behind|red_flag)">' "$T/dom.html" ||
	fail "the KPI's open window is not shown below target: $(grep -o '<table id="kpis">.*' "$T/dom.html" | cut -c1-400)"
# a device's page, reached with the token
timeout 90 $CHROME --virtual-time-budget=5000 --dump-dom "$URL/device?name=cab-001&token=$TOKEN" > "$T/dev.html" 2>> "$T/chrome.log" ||
	fail "chromium --dump-dom (device page) failed: $(tail -3 "$T/chrome.log")"
grep -q '<svg id="chart-[0-9]*" class="chart"' "$T/dev.html" || fail "no SVG chart on the device page"
grep -q '<polyline' "$T/dev.html" || fail "the device page's charts have no line"
grep -q '<script' "$T/dom.html" && fail "markup from the config reached the page unescaped"
grep -q 'Ward &lt;b&gt;7&lt;/b&gt; &amp; "co" &lt;script&gt;x&lt;/script&gt;' "$T/dom.html" ||
	fail "the ward name is not shown escaped: $(grep -o 'Ward[^·]*' "$T/dom.html" | head -1)"
ok "chromium renders the page: 4 devices, ghost offline and listed first, KPI open window below target; the device page has SVG charts with lines ($(( (t1 - t0) / 1000000 )) ms incl. browser start)"
timeout 90 $CHROME --window-size=412,1600 --screenshot="$T/status-page.png" "$PAGE" >> "$T/chrome.log" 2>&1 ||
	fail "chromium --screenshot failed: $(tail -3 "$T/chrome.log")"
[ "$(head -c 8 "$T/status-page.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] || fail "screenshot is not a PNG"
[ "$(stat -c %s "$T/status-page.png")" -gt 10000 ] || fail "screenshot is suspiciously small"
mkdir -p "$ROOT/$B"
cp "$T/status-page.png" "$ROOT/$B/status-page.png"
ok "screenshot $(stat -c %s "$T/status-page.png") bytes -> $B/status-page.png"

# server-side render time, from the page's own Server-Timing header
render=$(curl -s -D - -o "$T/page.html" "$PAGE" | tr -d '\r' | sed -n 's/^Server-Timing: render;dur=//p')
[ -n "$render" ] || fail "no Server-Timing header"
ok "server render time $render ms, page $(stat -c %s "$T/page.html") bytes"

# /metrics as Prometheus text: every sample line is NAME{LABELS} VALUE, every
# metric has one TYPE, histogram buckets are cumulative and end at +Inf = count
curl -s "$URL/metrics?token=$TOKEN" > "$T/metrics.txt"
awk '
  /^# TYPE / { if ($3 in type) { print "two TYPE lines for " $3; bad = 1 } type[$3] = $4; next }
  /^# HELP / { next }
  /^#/ { print "bad comment: " $0; bad = 1; next }
  {
    if (!match($0, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+]?([0-9.]+([eE][-+]?[0-9]+)?|NaN|[+-]?Inf)$/)) {
      print "bad line: " $0; bad = 1; next
    }
    name = $0; sub(/[{ ].*/, "", name); base = name
    sub(/_(bucket|sum|count)$/, "", base)
    if (!(name in type) && !(base in type)) { print "no TYPE for " name; bad = 1 }
    if (name ~ /_bucket$/) {
      v = $NF + 0
      if (v < last) { print "buckets not cumulative: " $0; bad = 1 }
      last = v
      if ($0 ~ /le="\+Inf"/) inf = v
    }
    if (name == "wardgw_poll_duration_seconds_count") cnt = $NF + 0
    n++
  }
  END {
    if (inf != cnt) { print "+Inf bucket " inf " != count " cnt; bad = 1 }
    if (n < 20) { print "only " n " samples"; bad = 1 }
    exit bad
  }' "$T/metrics.txt" > "$T/metrics-check.txt" || fail "/metrics is not valid Prometheus text: $(head -5 "$T/metrics-check.txt")"
for m in wardgw_polls_total wardgw_poll_errors_total wardgw_poll_duration_seconds_bucket wardgw_outbox_messages \
	 wardgw_outbox_dropped_total wardgw_loop_lag_seconds; do
	grep -q "^$m" "$T/metrics.txt" || fail "/metrics lacks $m"
done
polls=$(sed -n 's/^wardgw_polls_total{result="ok"} //p' "$T/metrics.txt")
[ "$polls" -gt 0 ] || fail "no polls counted"
grep -q '^wardgw_device_up{device="ghost"} 0$' "$T/metrics.txt" || fail "ghost is not down in /metrics"
ok "/metrics parses as Prometheus text: $(grep -vc '^#' "$T/metrics.txt") samples, $(stat -c %s "$T/metrics.txt") bytes, $polls polls ok"

# status.json through HTTP matches the snapshot's shape
curl -s "$URL/status.json?token=$TOKEN" | jq -e '.devices | length == 4' > /dev/null || fail "status.json"
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$GW_PID/status")
ok "status.json has 4 devices; gateway RSS $rss kB"

# a new token by reload (SIGHUP): the old one stops working, the new one works
TOKEN2=tech2-$RANDOM$RANDOM
printf '%s\n' "$TOKEN2" > "$T/token"
kill -HUP "$GW_PID"
wait_until 10 grep -q 'reload: config .* applied' "$T/gateway.log" || fail "reload not applied"
wait_for 10 '[ "$(curl -s -o /dev/null -w "%{http_code}" "$URL/metrics?token=$TOKEN2")" = 200 ]' || fail "the new token is refused"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/metrics?token=$TOKEN")
[ "$code" = 401 ] || fail "the old token still works after the reload: HTTP $code"
# a token file that cannot be read: the page keeps its settings
chmod 644 "$T/token"
kill -HUP "$GW_PID"
wait_until 10 grep -q 'the status page keeps its old settings' "$T/gateway.log" || fail "no message for an unreadable token"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/metrics?token=$TOKEN2")
[ "$code" = 200 ] || fail "the page lost its token: HTTP $code"
chmod 600 "$T/token"
ok "token rotated by SIGHUP: old 401, new 200; an unreadable token file keeps the running page"

# basic auth instead of a token
stop_pid "$GW_PID"
printf 'pw-%s\n' "$RANDOM" > "$T/password"
chmod 600 "$T/password"
sed -i "s|token_file = \"$T/token\";|user = \"tech\"; password_file = \"$T/password\";|" "$T/gw.conf"
start_gateway "$T/gw.conf"
wait_until 20 port_busy "$HP" || fail "no status page with basic auth"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/")
[ "$code" = 401 ] || fail "basic auth: no credentials gave HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -u "tech:wrong" "$URL/")
[ "$code" = 401 ] || fail "basic auth: a wrong password gave HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -u "tech:$(cat "$T/password")" "$URL/")
[ "$code" = 200 ] || fail "basic auth: the right password gave HTTP $code"
curl -s -D - -o /dev/null "$URL/" | grep -qi '^WWW-Authenticate: Basic' || fail "no Basic challenge"
ok "basic auth: none or wrong 401 (with a Basic challenge), right 200"

# a clean stop after the requests and the reloads (under ASan: no error, no leak)
stop_pid "$GW_PID"
wait "$GW_PID"; rc=$?
[ "$rc" = 0 ] || fail "gateway exited $rc"
ok "clean stop (exit 0)"
