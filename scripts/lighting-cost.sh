#!/usr/bin/env bash
# What the lighting schedule, alarms and derived KPI series cost: the same
# 1,000 simulated cabinets polled every second for RUN_SECS (30), without
# and with a lighting section (3 programs, a special day, a 500-device group
# rule). Prints CPU per 1,000 polls and peak RSS of each run. Loopback only.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
N=${LIGHTING_DEVICES:-1000} SECS=${RUN_SECS:-30} PORT=${BASE_PORT:-24000}
T=$(mktemp -d "${TMPDIR:-/tmp}/wardgw-lcost.XXXXXX")
"$ROOT/$B/wardgw-sim" --base-port "$PORT" --cabinets "$N" --sdm120 0 --dds238 0 --obey > "$T/sim.log" 2>&1 &
SIM=$!
trap 'kill $SIM 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 100); do grep -q ready "$T/sim.log" && break; sleep 0.1; done
group=$(for i in $(seq 1 $((N / 2))); do printf '"cab-%04d",' "$i"; done | sed 's/,$//')
for m in off on; do
	cat > "$T/$m.conf" <<EOC
gateway = { id = "bench"; lat = 11.837; lon = 106.993; data_dir = "$T/data-$m"; };
log = { level = "warn"; };
mqtt = { uri = "tcp://127.0.0.1:1"; };
profiles_dir = "$ROOT/config/profiles";
device_defaults = { poll_interval_ms = 1000; timeout_ms = 500; };
devices = ( { name = "cab"; count = $N; profile = "lighting-cabinet"; host = "127.0.0.1"; port = $PORT; } );
groups = ( { name = "north"; devices = [ $group ]; } );
EOC
	[ $m = on ] && cat >> "$T/$m.conf" <<'EOC'
lighting = {
  programs = ( { name = "night"; points = ( { at = "sunset"; level = 100; }, { at = "22:30"; level = 60; },
                                            { at = "sunrise-10"; level = 0; } ); },
               { name = "north"; points = ( { at = "dusk"; level = 80; }, { at = "dawn"; level = 0; } ); } );
  special_days = ( { name = "tet"; dates = [ "2026-02-15..2026-02-22" ]; } );
  calendar = ( { special = "tet"; program = "night"; }, { groups = [ "north" ]; program = "north"; }, { program = "night"; } );
};
EOC
	taskset -c 1 "$ROOT/$B/wardgw" run -c "$T/$m.conf" --run-secs "$SECS" --stats "$T/$m.json" > "$T/$m.log" 2>&1
	jq -r --arg m "$m" '"lighting \($m): \(.ok) polls, \((.cpu_user_ms + .cpu_sys_ms) * 1000 / .ok | floor) ms CPU per 1000 polls, \(.requests - .ok) requests besides polls (writes, read-backs), max RSS \(.max_rss_kb / 1024 | floor) MB"' "$T/$m.json"
done
