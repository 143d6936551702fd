#!/usr/bin/env bash
# 300 reloads, each of which restarts every device (device_defaults
# changes), at 200 devices: the memory of what a reload retires is freed
# (RSS after 300 reloads within 4 MB of RSS after 30), and each restarted
# device keeps its poll slots (a restart did poll every device at once:
# polls stay within the ones due in the run's time).
. "$(dirname "$0")/lib.sh"

# under ASan: no quarantine, or freed memory stays resident for a while
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
N=${WARDGW_TEST_DEVICES:-200}
R=${WARDGW_TEST_RELOADS:-300}
MQ=$(free_port) BASE=$(free_port "$N")
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets "$N" --sdm120 0 --dds238 0
conf() {
	write_config "$T/gw.conf" "$MQ" "
  { name = \"cab\"; count = $N; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; }"
	sed -i "s/timeout_ms = 300;/timeout_ms = $1;/; s/poll_interval_ms = 1000;/poll_interval_ms = 2000;/" "$T/gw.conf"
}
conf 300
t0=$SECONDS
start_gateway "$T/gw.conf"
wait_until 20 grep -q 'connected (session' "$T/gateway.log" || fail "gateway did not connect"
applied() { grep -c 'reload: config .* applied' "$T/gateway.log"; }
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$GW_PID/status"; }
for i in $(seq 1 "$R"); do
	conf $((300 + i % 2))
	kill -HUP "$GW_PID"
	# a short retry: 300 reloads at wait_for's 0.1 s would be most of the test
	for _ in $(seq 1000); do [ "$(applied)" -ge "$i" ] && break; sleep 0.01; done
	[ "$(applied)" -ge "$i" ] || fail "reload $i not applied: $(grep 'reload' "$T/gateway.log" | tail -3)"
	[ "$i" = 30 ] && rss30=$(rss)
done
rss_end=$(rss)
grep -q "applied in .* 0 devices kept running, 0 added, 0 removed, $N restarted" "$T/gateway.log" \
	|| fail "the reloads did not restart every device: $(grep 'reload: config' "$T/gateway.log" | tail -1)"
growth=$((rss_end - rss30))
echo "   RSS after 30 reloads ${rss30} kB, after $R: ${rss_end} kB (+${growth} kB)"
[ "$growth" -le 4096 ] || fail "RSS grew by $growth kB over $((R - 30)) reloads"
ok "$R reloads restarting $N devices: RSS ${rss_end} kB, +${growth} kB since reload 30"

stop_pid "$GW_PID"
secs=$((SECONDS - t0))
started=$(jq .started "$T/stats.json")
# every 2 s per device, plus a slot of slack each
due=$((N * (secs / 2 + 2)))
[ "$started" -le "$due" ] || fail "$started polls started in $secs s for $N devices at 2 s (at most $due due)"
[ "$started" -ge $((N * 2)) ] || fail "only $started polls in $secs s"
ok "$started polls in $secs s for $N devices every 2 s (at most $due due): restarted devices kept their slots"
