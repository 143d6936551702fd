#!/usr/bin/env bash
# /healthz tells a monitor the truth: 503 "store failing" while the data
# disk refuses writes (the fault shim of test_disk.sh), 200 again when it is
# back; /metrics shows wardgw_store_ok 0 meanwhile, and `wardgw status`
# says FAILING (exit 1).
. "$(dirname "$0")/lib.sh"

cc -shared -fPIC -O1 -o "$T/fault.so" "$ROOT/tests/fault/fault.c" -ldl || fail "cannot build the fault shim"
MQ=$(free_port) BASE=$(free_port) HP=$(free_port)
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 1 --sdm120 0 --dds238 0
write_config "$T/gw.conf" "$MQ" "{ name = \"cab\"; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; poll_interval_ms = 250; timeout_ms = 200; }" "
http = { listen = \"127.0.0.1:$HP\"; };"
mkdir -p "$T/data"
: > "$T/fault"
export WARDGW_FAULT_DIR="$T/data" WARDGW_FAULT_CTL="$T/fault"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
LD_PRELOAD="$T/fault.so" start_gateway "$T/gw.conf"
wait_until 20 port_busy "$HP" || fail "no status page"
hz() { curl -s -o "$T/hz.txt" -w '%{http_code}' "http://127.0.0.1:$HP/healthz"; }
wait_for 10 '[ "$(hz)" = 200 ]' || fail "/healthz not 200 at start: $(cat "$T/hz.txt")"
ok "/healthz 200 with a healthy store"
echo EROFS > "$T/fault"
wait_for 15 '[ "$(hz)" = 503 ] && grep -qx "store failing" "$T/hz.txt"' || fail "/healthz: $(hz) $(cat "$T/hz.txt")"
curl -s "http://127.0.0.1:$HP/metrics" | grep -qx 'wardgw_store_ok 0' || fail "/metrics does not say wardgw_store_ok 0"
ok "read-only disk: /healthz 503 'store failing', wardgw_store_ok 0"
# the snapshot (rewritten every 5 s through stdio, which the shim does not touch) says so too
wait_for 12 '"$WARDGW" status -c "$T/gw.conf" > "$T/status.txt" 2>&1; [ $? = 1 ] && grep -q "store     FAILING" "$T/status.txt"' ||
	fail "wardgw status during the fault: $(cat "$T/status.txt")"
ok "wardgw status: $(grep 'store ' "$T/status.txt" | sed 's/^ *//' | cut -c1-70), exit 1"
: > "$T/fault"
wait_for 20 '[ "$(hz)" = 200 ]' || fail "/healthz did not recover: $(cat "$T/hz.txt")"
ok "disk back: /healthz 200 again"
wait_for 10 '"$WARDGW" status -c "$T/gw.conf" > "$T/status.txt" 2>&1; grep -q "store     ok" "$T/status.txt"' ||
	fail "status after recovery: $(cat "$T/status.txt")"
ok "wardgw status shows the store ok again"
