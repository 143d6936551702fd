#!/usr/bin/env bash
# The status snapshot (data_dir/status.json) is flash worn on a cabinet's
# eMMC: it is rewritten when what it shows changes (looked at every 5 s),
# not every 5 s. Here: while nothing changes, looks pass (counted on
# /metrics, the positive marker) and the file is not rewritten; a device
# going offline rewrites it at the next look. /metrics and the status page
# show the measured write rate.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) BASE=$(free_port 2) HP=$(free_port)
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 2 --sdm120 0 --dds238 0
# snapshot_max_s: a heartbeat far past this test, so that only a change writes
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab-001\"; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; },
  { name = \"cab-002\"; host = \"127.0.0.1\"; port = $((BASE + 1)); profile = \"lighting-cabinet\"; }" "
http = { listen = \"127.0.0.1:$HP\"; };"
sed -i 's/batch_ms = 100;/batch_ms = 100; snapshot_max_s = 3600;/' "$T/gw.conf"
start_gateway "$T/gw.conf"
wait_until 20 port_busy "$HP" || fail "no status page"
metric() { curl -s "http://127.0.0.1:$HP/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
snap_ts() { jq -r '.ts' "$T/data/status.json" 2>/dev/null; }

# both cabinets online in the snapshot
wait_for 30 '[ "$(jq -r "[.devices[] | select(.state == \"online\")] | length" "$T/data/status.json" 2>/dev/null)" = 2 ]' ||
	fail "the snapshot never showed both cabinets online: $(cat "$T/data/status.json" 2>/dev/null)"
[ "$(jq -r '.interval_s' "$T/data/status.json")" = 3600 ] || fail "interval_s is not store.snapshot_max_s"
# nothing changes now: wait for two looks that found nothing to write (a
# look may still have seen the last change: start counting after one)
u0=$(metric wardgw_status_snapshot_unchanged_total)
[ -n "$u0" ] || fail "/metrics has no wardgw_status_snapshot_unchanged_total"
wait_for 15 '[ "$(metric wardgw_status_snapshot_unchanged_total)" -gt "$u0" ]' || fail "no look at the snapshot found it unchanged"
ts0=$(snap_ts) w0=$(metric wardgw_status_snapshot_writes_total) u1=$(metric wardgw_status_snapshot_unchanged_total)
[ "$w0" -ge 1 ] || fail "wardgw_status_snapshot_writes_total is $w0"
wait_for 15 '[ "$(metric wardgw_status_snapshot_unchanged_total)" -ge $((u1 + 2)) ]' || fail "the looks stopped"
[ "$(snap_ts)" = "$ts0" ] || fail "the snapshot was rewritten though nothing changed ($ts0 -> $(snap_ts))"
[ "$(metric wardgw_status_snapshot_writes_total)" = "$w0" ] || fail "writes counted though nothing changed"
ok "nothing changed: two more looks, status.json not rewritten (ts $ts0, $w0 writes)"

# a change: cab-002 stops answering (the simulator goes; cab-001 too)
kill "$SIM_PID"
wait_for 20 '[ "$(jq -r ".devices[] | select(.name == \"cab-002\") | .state" "$T/data/status.json" 2>/dev/null)" = offline ]' ||
	fail "the snapshot does not show cab-002 offline: $(cat "$T/data/status.json")"
[ "$(snap_ts)" -gt "$ts0" ] || fail "ts did not move"
[ "$(metric wardgw_status_snapshot_writes_total)" -gt "$w0" ] || fail "the rewrite is not counted"
"$WARDGW" status -c "$T/gw.conf" > "$T/status.txt" 2>&1
rc=$?
[ "$rc" = 1 ] && grep -q "cab-002 .* offline" "$T/status.txt" || fail "wardgw status: exit $rc, $(cat "$T/status.txt")"
ok "a device offline: rewritten at the next look, wardgw status shows it (exit 1)"

# the measured write rate: /metrics and the status page
wait_for 15 '[ -n "$(metric wardgw_process_write_bytes_per_second)" ] && awk -v r="$(metric wardgw_process_write_bytes_per_second)" "BEGIN { exit !(r > 0) }"' ||
	fail "/metrics: wardgw_process_write_bytes_per_second is '$(metric wardgw_process_write_bytes_per_second)'"
curl -s "http://127.0.0.1:$HP/" | grep -q 'writes [0-9.]* kB/s' || fail "the status page does not show the write rate"
ok "write rate $(metric wardgw_process_write_bytes_per_second) B/s on /metrics and the status page"
