# Shared helpers for the integration tests: free loopback ports, a real
# mosquitto, the simulator and the gateway, all started here and stopped by
# PID in a trap. Waits retry a connect or a log line; no fixed sleeps.
# tests/run-integration.sh runs several tests at once: the ports a test takes
# are recorded in a directory all of them share (PORTS_DIR), so that two
# tests never pick the same one before either has bound it.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=${B:-build}
WARDGW="$ROOT/$B/wardgw"
SIM="$ROOT/$B/wardgw-sim"
T=$(mktemp -d "${TMPDIR:-/tmp}/wardgw-test.XXXXXX")
: > "$T/.ports"
PIDS=""
PORTS_DIR=${WARDGW_PORTS_DIR:-/tmp/wardgw-test-ports}
mkdir -p "$PORTS_DIR" 2>/dev/null && [ -w "$PORTS_DIR" ] || PORTS_DIR=$T

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	rm -f "$PORTS_DIR/$$"
	if [ "${KEEP:-0}" = 1 ] || [ "${FAILED:-0}" = 1 ]; then
		echo "   (test files kept in $T)"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT

fail() {
	FAILED=1
	echo "FAIL: $*" >&2
	for f in "$T"/*.log; do
		[ -f "$f" ] || continue
		echo "--- $f (last lines)" >&2
		tail -n 15 "$f" >&2
	done
	exit 1
}

ok() { echo "   ok: $*"; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free port with $1 - 1 free ports after it (default 1), below the
# kernel's ephemeral range so that no outgoing connection takes one later;
# not one this test or another running test was given (its server may not
# listen yet: mosquitto's port inside the simulator's range).
free_port() {
	local n=${1:-1} p i busy f
	local lo=10000 hi
	hi=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	exec 9> "$PORTS_DIR/.lock"
	flock 9
	# the ranges of the tests still running (a file per test, named by PID)
	: > "$T/.taken"
	for f in "$PORTS_DIR"/[0-9]*; do
		[ -f "$f" ] || continue
		if [ "${f##*/}" = $$ ] || kill -0 "${f##*/}" 2>/dev/null; then
			cat "$f" >> "$T/.taken"
		else
			rm -f "$f"
		fi
	done
	cat "$T/.ports" >> "$T/.taken"
	for _ in $(seq 200); do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo - n)))
		busy=0
		while read -r a b; do
			[ $((p + n - 1)) -lt "$a" ] || [ "$p" -gt "$b" ] || { busy=1; break; }
		done < "$T/.taken"
		[ $busy = 1 ] && continue
		for i in $(seq 0 $((n - 1))); do
			if port_busy $((p + i)); then busy=1; break; fi
		done
		if [ $busy = 0 ]; then
			echo "$p $((p + n - 1))" >> "$T/.ports"
			[ "$PORTS_DIR" = "$T" ] || echo "$p $((p + n - 1))" >> "$PORTS_DIR/$$"
			exec 9>&-
			echo $p
			return 0
		fi
	done
	exec 9>&-
	return 1
}

# wait_until SECONDS COMMAND...: retry until the command succeeds.
wait_until() {
	local secs=$1; shift
	local end=$((SECONDS + secs))
	while [ $SECONDS -le $end ]; do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# wait_for SECONDS 'SHELL EXPRESSION': like wait_until, but the expression
# is evaluated afresh on every try (for command substitutions).
wait_for() {
	local secs=$1 expr=$2
	local end=$((SECONDS + secs))
	while [ $SECONDS -le $end ]; do
		eval "$expr" && return 0
		sleep 0.1
	done
	return 1
}

# The gateway's wall clock, driven by the test (docs/architecture.md,
# "Time"): clock_drive before start_gateway makes every wardgw started
# afterwards (the gateway, and wardgw query/kpi, which must agree with it)
# read its wall time as the machine's plus the offset in $T/offset; the
# monotonic clock (polls, timeouts, rate limits) is never shifted.
# clock_next_minute [MS] moves that wall clock forward to MS (default 500)
# after the next minute boundary: the minute open now closes once the
# rollup grace has passed (the largest device timeout + 2 s), seconds
# later, instead of up to a minute; a sample taken just before the jump is
# still in time for its minute. gw_wall_ms: the gateway's wall time now.
clock_drive() { # [OFFSET_MS]
	echo "${1:-0}" > "$T/offset"
	export WARDGW_TEST_WALL_OFFSET_FILE="$T/offset"
}
gw_wall_ms() { echo $(( $(date +%s%3N) + $(cat "$T/offset") )); }
clock_set() { # OFFSET_MS: replaced whole, never read half written
	echo "$1" > "$T/offset.new" && mv -f "$T/offset.new" "$T/offset"
}
clock_next_minute() { # [MS]
	local off now
	off=$(cat "$T/offset")
	now=$(( $(date +%s%3N) + off ))
	clock_set $(( off + (now / 60000 + 1) * 60000 + ${1:-500} - now ))
}
# clock_to_second S: forward to second S of the gateway's current minute
# (or of the next one, when S has passed)
clock_to_second() { # S
	local off now at
	off=$(cat "$T/offset")
	now=$(( $(date +%s%3N) + off ))
	at=$(( now / 60000 * 60000 + $1 * 1000 ))
	[ "$at" -gt "$now" ] || at=$(( at + 60000 ))
	clock_set $(( off + at - now ))
}

start_mosquitto() {
	local port=$1
	# MOSQ_PERSIST=1: sessions and queued messages survive a restart
	# (saved on SIGTERM), like a production broker
	cat > "$T/mosquitto-$port.conf" <<EOC
listener $port 127.0.0.1
allow_anonymous true
persistence $([ -n "${MOSQ_PERSIST:-}" ] && echo true || echo false)
persistence_location $T/
max_queued_messages 0
EOC
	mosquitto -c "$T/mosquitto-$port.conf" >> "$T/mosquitto.log" 2>&1 &
	MOSQ_PID=$!
	PIDS="$PIDS $MOSQ_PID"
	wait_until 10 port_busy "$port" || fail "mosquitto did not start on port $port"
}

# start_sim ARGS...: sets SIM_PID; waits for the ready line.
start_sim() {
	"$SIM" "$@" > "$T/sim.log" 2>&1 &
	SIM_PID=$!
	PIDS="$PIDS $SIM_PID"
	# "Address already in use" contains "ready": match the whole line
	wait_until 30 grep -q '^wardgw-sim: ready' "$T/sim.log" || fail "simulator not ready"
}

sim_ctl() { "$SIM" --ctl "$SIM_CTL" "$@"; }

# write_config FILE MQTT_PORT DEVICES_BLOCK [EXTRA]
write_config() {
	cat > "$1" <<EOC
gateway = { id = "gw-test"; ward = "test ward"; lat = 11.837; lon = 106.993; data_dir = "$T/data"; };
log = { level = "info"; };
store = { path = "wardgw.db"; batch_ms = 100; };
mqtt = { uri = "tcp://127.0.0.1:$2"; topic_prefix = "ward"; keepalive = 5; };
profiles_dir = "$ROOT/config/profiles";
device_defaults = { poll_interval_ms = 1000; timeout_ms = 300; backoff_max_ms = 2000; };
devices = ( $3 );
${4:-}
EOC
}

start_gateway() {
	# emptied here, not by the background job's redirect: a wait for a
	# line right after must not find the last run's (test_ingest's restart
	# saw "ingest: listening" of the gateway it had stopped)
	: > "$T/gateway.log"
	"$WARDGW" run -c "$1" --stats "$T/stats.json" "${@:2}" >> "$T/gateway.log" 2>&1 &
	GW_PID=$!
	PIDS="$PIDS $GW_PID"
}

stop_pid() {
	kill "$1" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$1" 2>/dev/null
}

# Number of stored samples for device/metric.
sample_count() {
	"$WARDGW" query -c "$1" --device "$2" --metric "$3" --from -1d --format csv 2>/dev/null | tail -n +2 | wc -l
}

# Commit log records whose telemetry link $2 still owes (docs/storage.md,
# "The store as the outbox"): the newest record less the link's cursor.
tele_lag() {
	# (.timeout: the gateway may hold the write lock a moment; without it a
	# busy database reads as 999999)
	sqlite3 -cmd ".timeout 5000" "$1" "SELECT coalesce((SELECT max(id) FROM headlog), 0) -
		coalesce((SELECT value FROM meta WHERE key = 'outbox_tcur:$2'), 0)" 2>/dev/null || echo 999999
}

# mqtt_flush PORT FILE TOPIC [QOS]: publish a marker on TOPIC through the
# broker on PORT and wait until the subscriber writing FILE (subscribed to
# TOPIC, with -v) has it: whatever the broker had for that subscriber before
# has been delivered by then (a broker keeps the order per subscriber).
mqtt_flush() {
	local m="flush-$$-$RANDOM"
	mosquitto_pub -h 127.0.0.1 -p "$1" -q "${4:-1}" -t "$3" -m "$m" || return 1
	wait_until 20 grep -q "^$3 $m\$" "$2"
}
