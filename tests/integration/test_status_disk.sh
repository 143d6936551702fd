#!/usr/bin/env bash
# wardgw status on a full data disk: the gateway runs but cannot rewrite
# its snapshot (status.json); status says so (running, cannot write it,
# exit 1), not "NOT RUNNING" (exit 3), which stays for a gateway that is
# gone. Disk faults by LD_PRELOAD (tests/fault/fault.c), as test_disk.sh.
. "$(dirname "$0")/lib.sh"

cc -shared -fPIC -O1 -o "$T/fault.so" "$ROOT/tests/fault/fault.c" -ldl || fail "cannot build the fault shim"
MQ=$(free_port) BASE=$(free_port)
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 1 --sdm120 0 --dds238 0
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab-001\"; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; }"
# at least every 5 s (the default is 60): stale after 15 s
sed -i 's/batch_ms = 100;/batch_ms = 100; snapshot_max_s = 5;/' "$T/gw.conf"
mkdir -p "$T/data"
: > "$T/fault"
export WARDGW_FAULT_DIR="$T/data" WARDGW_FAULT_CTL="$T/fault" WARDGW_FAULT_STDIO=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
LD_PRELOAD="$T/fault.so" start_gateway "$T/gw.conf"
wait_until 20 "$WARDGW" status -c "$T/gw.conf" > /dev/null 2>&1 || fail "status not healthy at start"

echo ENOSPC > "$T/fault"
wait_until 10 grep -q 'cannot write .*status.json' "$T/gateway.log" || fail "the gateway does not say it cannot write its snapshot"
# the snapshot is stale after 15 s without a rewrite
wait_for 30 '"$WARDGW" status -c "$T/gw.conf" > "$T/st.txt" 2>&1; [ $? = 1 ] && grep -q "RUNNING (pid $GW_PID), but it cannot write its snapshot" "$T/st.txt"' \
	|| fail "status on a full disk: $(cat "$T/st.txt")"
grep -q 'NOT RUNNING' "$T/st.txt" && fail "status says NOT RUNNING for a running gateway"
ok "full disk: $(grep -o 'RUNNING (pid.*then' "$T/st.txt" | cut -c1-90)..., exit 1"

stop_pid "$GW_PID"
"$WARDGW" status -c "$T/gw.conf" > "$T/st2.txt" 2>&1
rc=$?
[ "$rc" = 3 ] && grep -q 'NOT RUNNING' "$T/st2.txt" || fail "a stopped gateway: exit $rc, $(head -3 "$T/st2.txt")"
ok "stopped gateway: NOT RUNNING, exit 3"
