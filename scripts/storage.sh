#!/usr/bin/env bash
# Storage per device per day, measured: the real gateway polls N simulated
# lighting cabinets (15 metrics each) every second for STORAGE_SECS, then
# SQLite's dbstat gives the bytes each table and index holds (the samples:
# chunks, open chunks and their indexes, counted with wardgw query --all). From the
# bytes per raw sample and per rollup row it prints what one device costs
# per day at several poll intervals, and the steady-state database size per
# device under the default retention (raw 14 d, minutes 90 d, hours and days
# 5 years): storage grows with retention, not with uptime.
#
#   STORAGE_DEVICES=50 STORAGE_SECS=150 scripts/storage.sh
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${STORAGE_DEVICES:-50}
SECS=${STORAGE_SECS:-150}
T=$(mktemp -d "${TMPDIR:-/tmp}/wardgw-storage.XXXXXX")
PIDS=""
trap 'for p in $PIDS; do kill $p 2>/dev/null; done; sleep 0.5; for p in $PIDS; do kill -9 $p 2>/dev/null; done; rm -rf "$T"' EXIT

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
	local n=${1:-1} p hi
	hi=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	for _ in $(seq 200); do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % (hi - 10000 - n)))
		port_busy $p || port_busy $((p + n - 1)) || { echo $p; return 0; }
	done
	return 1
}

MQ=$(free_port) BASE=$(free_port "$N")
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$MQ" > "$T/mosq.conf"
mosquitto -c "$T/mosq.conf" > "$T/mosq.log" 2>&1 &
PIDS="$PIDS $!"
"$ROOT/build/wardgw-sim" --base-port "$BASE" --cabinets "$N" --sdm120 0 --dds238 0 > "$T/sim.log" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 100); do grep -q ready "$T/sim.log" && port_busy "$MQ" && break; sleep 0.1; done
cat > "$T/gw.conf" <<EOC
gateway = { id = "storage"; ward = "storage"; lat = 0.0; lon = 0.0; data_dir = "$T/data"; };
log = { level = "warn"; };
store = { path = "wardgw.db"; };
mqtt = { uri = "tcp://127.0.0.1:$MQ"; };
profiles_dir = "$ROOT/config/profiles";
device_defaults = { poll_interval_ms = 1000; timeout_ms = 500; };
devices = ( { name = "cab"; count = $N; host = "127.0.0.1"; port = $BASE; profile = "lighting-cabinet"; } );
EOC
"$ROOT/build/wardgw" run -c "$T/gw.conf" > "$T/gw.log" 2>&1 &
GW=$!
PIDS="$PIDS $GW"
echo "storage: $N cabinets (15 metrics each) polled every second for $SECS s ..."
sleep "$SECS"
kill "$GW"
wait "$GW" 2>/dev/null
DB="$T/data/wardgw.db"
sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE)' > /dev/null

q() { sqlite3 "$DB" "$1"; }
samples=$("$ROOT/build/wardgw" query -c "$T/gw.conf" --all | tail -n +2 | wc -l)
minutes=$(q 'SELECT count(*) FROM rollup WHERE tier = 0')
# payload bytes in use (dbstat: pages minus unused), per table and index
used() { q "SELECT coalesce(sum(pgsize - unused), 0) FROM dbstat WHERE name IN ($1)"; }
raw_b=$(used "'chunk', 'chunk_series', 'head', 'headlog'")
ru_b=$(used "'rollup'")
metrics=15
[ "$samples" -gt 0 ] && [ "$minutes" -gt 0 ] || { echo "storage: no data (samples $samples, minute rollups $minutes)" >&2; cat "$T/gw.log" >&2; exit 1; }

awk -v s="$samples" -v rb="$raw_b" -v m="$minutes" -v ub="$ru_b" -v k=$metrics -v n="$N" '
BEGIN {
	bs = rb / s; bm = ub / m
	printf "measured: %d raw samples, %.2f bytes each (chunks, heads, indexes); %d minute rollup rows, %.1f bytes each\n", s, bs, m, bm
	rollday = k * (1440 + 24 + 1) * bm      # minute + hour + day rows per device per day
	printf "\n| poll interval | raw / device / day | rollups / device / day | steady state / device (raw 14 d, minutes 90 d, hours+days 5 y) |\n|---|---|---|---|\n"
	split("1 10 60 300", iv, " ")
	for (i = 1; i <= 4; i++) {
		raw = k * 86400 / iv[i] * bs
		steady = 14 * raw + 90 * k * 1440 * bm + 1826 * k * 25 * bm
		printf "| %d s | %.2f MB | %.2f MB | %.1f MB |\n", iv[i], raw / 1e6, rollday / 1e6, steady / 1e6
	}
}'
echo
echo "reproduce: STORAGE_DEVICES=$N STORAGE_SECS=$SECS scripts/storage.sh"
