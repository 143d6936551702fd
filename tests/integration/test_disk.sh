#!/usr/bin/env bash
# Disk trouble: the data disk fills up, then goes read-only, under a running
# gateway. Real SQLite and the real gateway; only the kernel's answers to
# writes under the data directory change (tests/fault/fault.c, LD_PRELOAD).
# The gateway must say so (log, retained status, event), keep polling,
# keep the samples in memory, and write them all once the disk is back;
# the database passes PRAGMA integrity_check.
. "$(dirname "$0")/lib.sh"

cc -shared -fPIC -O1 -o "$T/fault.so" "$ROOT/tests/fault/fault.c" -ldl || fail "cannot build the fault shim"

MQ=$(free_port) BASE=$(free_port 2) CTL=$(free_port)
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 2 --sdm120 0 --dds238 0 --control "$CTL"
SIM_CTL=$CTL
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab\"; count = 2; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\";
    poll_interval_ms = 250; timeout_ms = 200; }" "mqtt = { uri = \"tcp://127.0.0.1:$MQ\"; topic_prefix = \"ward\"; keepalive = 5; status_interval_s = 5; };"
# the block above repeats mqtt: keep the last one (status every 5 s)
sed -i '0,/^mqtt = /{/^mqtt = /d}' "$T/gw.conf"

mosquitto_sub -h 127.0.0.1 -p "$MQ" -v -t 'ward/gw-test/status' -t 'ward/gw-test/event/store' > "$T/sub.txt" 2>/dev/null &
PIDS="$PIDS $!"
mkdir -p "$T/data"
: > "$T/fault"
export WARDGW_FAULT_DIR="$T/data" WARDGW_FAULT_CTL="$T/fault"
# the shim is not instrumented: let an ASan build accept it
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
LD_PRELOAD="$T/fault.so" start_gateway "$T/gw.conf"
wait_until 20 grep -q '"store":{"ok":true' "$T/sub.txt" || fail "no status with a healthy store"

requests() { sim_ctl stats | awk -F= '/requests/ { print $2 }'; }
store_events() { grep -c "^ward/gw-test/event/store .*\"state\":\"$1\"" "$T/sub.txt"; }

# fault FULL|RO: the disk fails while the gateway polls 16 more times; the
# gateway must notice, keep polling, and write everything once the disk is
# back.
fault() {
	local mode=$1 text=$2 r0 r1 t0 before failing oks
	before=$(grep -c 'commits work again' "$T/gateway.log")
	oks=$(store_events ok)
	failing=$(grep -c '"store":{"ok":false' "$T/sub.txt")
	echo "$mode" > "$T/fault"
	wait_until 10 grep -q "$text" "$T/gateway.log" || fail "$mode: the log does not say '$text'"
	wait_for 15 '[ "$(grep -c "\"store\":{\"ok\":false" "$T/sub.txt")" -gt "$failing" ]' ||
		fail "$mode: status does not show the store failing"
	r0=$(requests) t0=$SECONDS
	# 16 requests answered while the disk fails: polling goes on (the
	# samples stay in memory: the gap check at the end)
	wait_for 15 '[ "$(requests)" -ge $((r0 + 16)) ]' ||
		fail "$mode: polling stalled while the disk failed ($r0 -> $(requests) requests in 15 s)"
	r1=$(requests)
	: > "$T/fault"
	wait_for 15 '[ "$(grep -c "commits work again" "$T/gateway.log")" -gt "$before" ]' ||
		fail "$mode: the store did not recover by itself"
	# the gateway saw it recover (its once-a-second check sent the event):
	# the next fault is a new one, not the same one going on
	wait_for 15 '[ "$(store_events ok)" -gt "$oks" ]' || fail "$mode: no store event for the recovery"
	ok "$mode: logged '$(grep -m1 -o "store .*$text[^;]*" "$T/gateway.log" | sed 's/^store [^ ]*: //')', kept polling ($((r1 - r0)) requests in $((SECONDS - t0)) s), recovered"
}

fault ENOSPC "disk is full"
fault EROFS "Read-only file system"

# the store's events reach the IOC: failing, then ok, twice
wait_for 20 '[ "$(grep -c "event/store .*\"state\":\"ok\"" "$T/sub.txt")" -ge 2 ]' ||
	fail "store events: $(grep -c 'event/store' "$T/sub.txt") seen"
grep -q 'event/store .*"state":"failing".*Read-only file system' "$T/sub.txt" || fail "no failing event naming the read-only disk"
ok "events: $(grep 'event/store' "$T/sub.txt" | grep -o '"state":"[a-z]*"' | tr '\n' ' ')"
wait_until 10 grep -q '"store":{"ok":true' <(tail -n 1 "$T/sub.txt") || true

stop_pid "$GW_PID"
# no sample lost: every 250 ms poll of the run is stored, also those
# polled while the disk refused writes (no gap longer than 2 periods)
for d in cab-001 cab-002; do
	"$WARDGW" query -c "$T/gw.conf" --device "$d" --metric lampsOn --from -1h --format csv | tail -n +2 |
		cut -d, -f2 | sort -n > "$T/ts-$d"
	n=$(wc -l < "$T/ts-$d")
	gap=$(awk 'NR > 1 && $1 - p > g { g = $1 - p } { p = $1 } END { print g + 0 }' "$T/ts-$d")
	[ "$n" -ge 40 ] || fail "$d: only $n samples stored"
	[ "$gap" -le 500 ] || fail "$d: a gap of $gap ms in the stored samples"
	ok "$d: $n samples stored, longest gap $gap ms across both faults"
done
r=$(sqlite3 "$T/data/wardgw.db" 'PRAGMA integrity_check')
[ "$r" = ok ] || fail "integrity_check: $r"
ok "integrity_check: ok"

# store.min_free_mb: a disk with less free space than that (here: any disk,
# 1 TiB asked) makes the gateway apply retention early, and say why
echo 'store = { path = "wardgw.db"; batch_ms = 100; min_free_mb = 1048576; };' > "$T/store.conf"
sed -i '/^store = /d' "$T/gw.conf"
cat "$T/store.conf" >> "$T/gw.conf"
unset LD_PRELOAD
start_gateway "$T/gw.conf"
wait_until 15 grep -q 'MB free on .*store.min_free_mb = 1048576.*applying retention early' "$T/gateway.log" ||
	fail "no warning for a disk below store.min_free_mb"
stop_pid "$GW_PID"
ok "below store.min_free_mb: $(grep -o 'only [0-9]* MB free' "$T/gateway.log" | head -1), retention applied early"
