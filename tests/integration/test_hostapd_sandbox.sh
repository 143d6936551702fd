#!/usr/bin/env bash
# wardgw-test: serial (a mount namespace, mounts and a directory in /run)
# hostapd under the shipped unit's sandbox: PrivateTmp=yes (a /tmp and
# /var/tmp of its own), /run read-only (ProtectSystem=strict) but for the
# RuntimeDirectory=wardgw it creates, passed as $RUNTIME_DIRECTORY. No
# systemd here (PID 1 is not systemd), so the sandbox is made with
# unshare(1) and mounts: the gateway inside, hostapd (the simulator)
# outside. With local_dir left out the gateway binds its sockets in the
# runtime directory and hostapd's answers reach it; a socket in the
# private /tmp gets none.
[ "$(id -u)" = 0 ] || { echo "   skipped: needs root for unshare -m"; exit 0; }
ROOT0=$(cd "$(dirname "$0")/../.." && pwd)
# the test's files outside /tmp, which the sandbox hides
mkdir -p "$ROOT0/${B:-build}/tmp"
export TMPDIR="$ROOT0/${B:-build}/tmp"
. "$(dirname "$0")/lib.sh"
unshare -m --propagation private true 2>/dev/null || { echo "   skipped: unshare -m not permitted here"; exit 0; }

RUNDIR=/run/wardgw-test-$$
mkdir -p "$RUNDIR" "$T/hap"
trap 'cleanup; rm -rf "$RUNDIR"' EXIT
"$SIM" hostapd --dir "$T/hap" --aps 1 --clients 8 --step-ms 100 --churn-secs 0 >> "$T/hostapd.log" 2>&1 &
PIDS="$PIDS $!"
wait_until 10 grep -q ready "$T/hostapd.log" || fail "hostapd simulator not ready"
MQ=$(free_port)
start_mosquitto "$MQ"

sandboxed() {   # sandboxed LOG CONFIG: the gateway as the unit would run it
	unshare -m --propagation private sh -c '
		mount -t tmpfs tmpfs /tmp && mount -t tmpfs tmpfs /var/tmp &&
		mount --bind -o ro /run /run && mount --bind "$1" "$1" && mount -o remount,bind,rw "$1" &&
		exec env RUNTIME_DIRECTORY="$1" "$2" run -c "$3"' sh "$RUNDIR" "$WARDGW" "$2" > "$1" 2>&1 &
	GW_PID=$!
	PIDS="$PIDS $GW_PID"
}
write_config "$T/gw.conf" "$MQ" "
  { name = \"ap-0\"; driver = \"hostapd\"; profile = \"wifi-ap\"; ctrl_path = \"$T/hap/wlan0\";
    poll_interval_ms = 500; timeout_ms = 100; backoff_max_ms = 1000; }"
RUNTIME_DIRECTORY="$RUNDIR" "$WARDGW" check -c "$T/gw.conf" > "$T/check.log" 2>&1 || fail "config refused: $(cat "$T/check.log")"

# 1. the default local_dir: the runtime directory
sandboxed "$T/gateway.log" "$T/gw.conf"
clients() { "$WARDGW" query -c "$T/gw.conf" --device ap-0 --metric clients --from -1h --format csv 2>/dev/null | tail -n +2 | wc -l; }
wait_for 20 '[ "$(clients)" -ge 2 ]' || fail "no readings from hostapd under the sandbox: $(grep -i 'ap-0' "$T/gateway.log" | tail -2)"
ls "$RUNDIR" | grep -q "^wardgw-.*-ap-0-" || fail "no socket of the gateway in $RUNDIR: $(ls -la "$RUNDIR")"
ok "under PrivateTmp and a read-only /run, the gateway's sockets are in the runtime directory ($(ls "$RUNDIR" | head -1 | cut -c1-40)...) and ap-0 answers"
stop_pid "$GW_PID"

# 2. what it was: local_dir = /tmp, private to the unit: no answer reaches it
sed -i 's|ctrl_path = \(.*\);$|ctrl_path = \1; local_dir = "/tmp";|' "$T/gw.conf"
grep -q 'local_dir = "/tmp"' "$T/gw.conf" || fail "sed"
sandboxed "$T/gateway2.log" "$T/gw.conf"
wait_until 15 grep -q 'device ap-0: offline' "$T/gateway2.log" || fail "a socket in the private /tmp got answers: the sandbox is not one"
ok "with local_dir = \"/tmp\" under PrivateTmp: $(grep -o 'device ap-0: offline.*' "$T/gateway2.log" | head -1)"
