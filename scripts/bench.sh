#!/usr/bin/env bash
# Benchmarks (`make bench`), six parts; BENCH_ONLY="poll ingest history drain"
# (the default) runs those four, BENCH_ONLY=ingest (or poll, history, drain, rtu, province) one of them.
#
# poll: wardgw and collectd (Debian's collectd-core, modbus + mqtt plugins)
# polling the same simulated devices, ten registers each, every second,
# publishing QoS 1 to the same local mosquitto.
#
#   BENCH_SIZES="100 1000 2000" BENCH_DELAYS="0 10" BENCH_SECS=20 scripts/bench.sh
#
# For each size and reply delay: the simulator runs pinned to CPU 1, the
# tool under test to CPU 0. CPU and polls are counted over a window after a
# warm-up (WARMUP s): CPU from /proc/PID/stat, polls from the simulator's
# request counter (wardgw reads the ten registers in one request, collectd
# sends one request per register, so collectd polls = requests / 10).
#
# ingest: build/bench-ingest, the store (gateway/store.c) against a minimal
# C loop writing the same rows to the same SQLite table (see bench/ingest.c).
#
#   BENCH_INGEST_N=800000 BENCH_INGEST_BATCH=2000 BENCH_INGEST_ROUNDS=3 BENCH_INGEST_ROLLUP=0 scripts/bench.sh
#
# history: build/bench-history, what the store costs as history grows, the
# chunked layout (schema 6) and today's row-per-sample layout side by side
# (see bench/history.c): bytes at rest per kind of metric, bytes written and
# CPU per stored sample on an empty store and on BENCH_HISTORY_SAMPLES of
# generated history (1e9 by default; rows: BENCH_HISTORY_OLD, 2e6, filling
# rows is slow), over BENCH_HISTORY_SECS (300) fast-forwarded seconds at
# BENCH_HISTORY_DEVICES (1000) x 8 metrics, and a 24 h query; then the
# gateway polling BENCH_HISTORY_DEVICES simulated devices for BENCH_SECS on
# an empty store and on one holding BENCH_HISTORY_SAMPLES of generated
# history (CPU per 1,000 polls, on time, peak RSS) and, the constant-cost
# goal's baseline, on a young store of BENCH_HISTORY_FRESH_S (1200) seconds
# of generated history (chunks close in both), and BENCH_HISTORY_BIG
# (5000; 0: skip) devices on that much history; a year of hourly rollups of
# one series among BENCH_HISTORY_ROLLUP_SERIES (1000). BENCH_HISTORY_PARTS
# ("store gateway big") picks among these three. BENCH_HISTORY_ROWS=0
# leaves the row layout out.
#
#   BENCH_ONLY=history BENCH_HISTORY_SAMPLES=1e9 BENCH_HISTORY_OLD=2e6 scripts/bench.sh
#
# drain: wardgw polls BENCH_DRAIN_DEVICES (1000) cabinets every second; the
# broker is stopped for BENCH_OUTAGE (30) s and started again on the same
# port; the outbox's backlog is read from its table (sqlite3, read-only
# queries on the WAL database) until it is gone. Once per outbox.backfill_per_s
# in BENCH_DRAIN_RATES ("default 5000"; default = the gateway's 500/s; RATE:N
# also sets mqtt.max_inflight = N).
#
#   BENCH_ONLY=drain BENCH_OUTAGE=30 BENCH_DRAIN_RATES="default 5000" scripts/bench.sh
#
# rtu (only when asked: BENCH_ONLY=rtu): a serial bus on a pseudo-terminal.
# The simulator serves BENCH_RTU_UNITS (150) cabinets as units of one RTU bus
# whose replies take the frames' wire time at each baud rate of
# BENCH_RTU_BAUDS ("9600 19200 38400 115200") plus BENCH_RTU_TURNAROUND (5)
# ms; the gateway polls them all every second through its modbus-rtu bus
# worker, more than the line can carry, for BENCH_RTU_SECS (10) s. Achieved
# requests/s (the simulator's counter) against the budget `wardgw check`
# computes for that baud rate (wire time, 3.5-character gap, turnaround).
#
#   BENCH_ONLY=rtu BENCH_RTU_BAUDS="9600 115200" BENCH_RTU_SECS=10 scripts/bench.sh
#
# province (only when asked): 100 gateways on this machine against the
# 3-node cluster; see run_province below and docs/province.md.
#
#   BENCH_ONLY=province BENCH_PROVINCE_GATEWAYS=100 BENCH_PROVINCE_SECS=60 BENCH_OUTAGE=30 scripts/bench.sh
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
case $B in /*) BDIR=$B ;; *) BDIR=$ROOT/$B ;; esac
ONLY=${BENCH_ONLY:-poll ingest history drain}
SIZES=${BENCH_SIZES:-100 1000 2000}
DELAYS=${BENCH_DELAYS:-0 10}
SECS=${BENCH_SECS:-20}
WARMUP=${BENCH_WARMUP:-5}
COLLECTD=${COLLECTD:-/usr/sbin/collectd}
INGEST_N=${BENCH_INGEST_N:-800000}
INGEST_BATCH=${BENCH_INGEST_BATCH:-2000}
INGEST_ROUNDS=${BENCH_INGEST_ROUNDS:-3}
INGEST_ROLLUP=${BENCH_INGEST_ROLLUP:-0}     # 1: also the store with the rollup module attached
INGEST_X=-x
[ "$INGEST_ROLLUP" = 1 ] && INGEST_X=""
HISTORY_SAMPLES=${BENCH_HISTORY_SAMPLES:-1e9}
HISTORY_OLD=${BENCH_HISTORY_OLD:-2e6}
HISTORY_SECS=${BENCH_HISTORY_SECS:-300}
HISTORY_DEVICES=${BENCH_HISTORY_DEVICES:-1000}
HISTORY_BIG=${BENCH_HISTORY_BIG:-5000}          # the large ward's devices (0: skip it)
HISTORY_ROLLUP_SERIES=${BENCH_HISTORY_ROLLUP_SERIES:-1000}   # series with a year of hourly rollups
HISTORY_FRESH_S=${BENCH_HISTORY_FRESH_S:-1200}  # the young store the gateway's cost is compared with: seconds of history
# the history part's parts: the store benchmark, the gateway at HISTORY_DEVICES, the large ward
HISTORY_PARTS=${BENCH_HISTORY_PARTS:-store gateway big}
hpart() { case " $HISTORY_PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
HISTORY_R=""
[ "${BENCH_HISTORY_ROWS:-1}" = 0 ] && HISTORY_R=-R    # 0: without the (slow) row layout
DRAIN_DEVICES=${BENCH_DRAIN_DEVICES:-1000}
OUTAGE=${BENCH_OUTAGE:-30}
DRAIN_RATES=${BENCH_DRAIN_RATES:-default 5000}
DRAIN_MAX=${BENCH_DRAIN_MAX:-300}
PROV_GATEWAYS=${BENCH_PROVINCE_GATEWAYS:-100}
PROV_DEVICES=${BENCH_PROVINCE_DEVICES:-10}
PROV_POLL_MS=${BENCH_PROVINCE_POLL_MS:-10000}
PROV_SECS=${BENCH_PROVINCE_SECS:-60}
PROV_COST=${BENCH_PROVINCE_COST:-10}
PROV_WARD=${BENCH_PROVINCE_WARD:-1}          # 0: no ward broker, one link per gateway (the cluster)
PROVINCE_DIR=""
T=$(mktemp -d "${TMPDIR:-/tmp}/wardgw-bench.XXXXXX")
HZ=$(getconf CLK_TCK)
PIDS=""
# BENCH_KEEP=1 keeps the temporary directory (logs, databases, what the subscriber received)
trap '[ -z "$PROVINCE_DIR" ] || B=$B "$ROOT/scripts/province.sh" stop "$PROVINCE_DIR" >/dev/null 2>&1
      for p in $PIDS; do kill $p 2>/dev/null; done; sleep 0.5; for p in $PIDS; do kill -9 $p 2>/dev/null; done
      if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $T" >&2; else rm -rf "$T"; fi' EXIT

for part in $ONLY; do
	case $part in poll|ingest|history|drain|rtu|province) ;; *) echo "bench: BENCH_ONLY: unknown part '$part' (poll, ingest, history, drain, rtu, province)" >&2; exit 2 ;; esac
done
wants() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
	local n=${1:-1} p i busy hi
	hi=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	for _ in $(seq 200); do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % (hi - 10000 - n)))
		busy=0
		for i in 0 $((n / 2)) $((n - 1)); do port_busy $((p + i)) && { busy=1; break; }; done
		# a range of thousands (the large ward): nothing listening on any
		# of them (ephemeral ports, where clients bind, start above)
		if [ $busy = 0 ] && [ "$n" -gt 100 ] && command -v ss >/dev/null; then
			ss -Htln | awk -v lo="$p" -v hi=$((p + n)) -v a="${SIM_ADDR:-127.0.0.1}" '{ q = $4; h = $4;
				sub(/.*:/, "", q); sub(/:[^:]*$/, "", h);
				if (q + 0 >= lo && q + 0 < hi && (h == a || h == "*" || h == "0.0.0.0" || h == "[::]")) f = 1 }
				END { exit !f }' && busy=1
		fi
		[ $busy = 0 ] && { echo $p; return 0; }
	done
	return 1
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
hwm_kb() { awk '/VmHWM/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
sim_requests() { "$BDIR/wardgw-sim" --bind "$SIM_ADDR" --ctl "$CTL" stats | awk -F= '/requests/ { print $2 }'; }
# exec, so that $! of a backgrounded call is the program itself
pin() { if command -v taskset >/dev/null; then exec taskset -c "$1" "${@:2}"; else exec "${@:2}"; fi; }
# the same without exec (for a command whose failure is handled after it)
on_cpu() { if command -v taskset >/dev/null; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }

# the simulator's address: 127.0.0.1, or a loopback address of its own
# for thousands of devices (a range of 5,000 free ports is rare on a
# machine where other tests run)
SIM_ADDR=127.0.0.1
start_world() { # N DELAY [ADDR]
	SIM_ADDR=${3:-127.0.0.1}
	# the control port right after the devices' range, checked with it
	MQ=$(free_port) BASE=$(free_port $(($1 + 1)))
	CTL=$((BASE + $1))
	printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n' "$MQ" > "$T/mosq.conf"
	: > "$T/sim.log"        # before the background redirect: the wait below must not see an old "ready"
	mosquitto -c "$T/mosq.conf" > "$T/mosq.log" 2>&1 &
	MOSQ=$!
	pin 1 "$BDIR/wardgw-sim" --bind "$SIM_ADDR" --base-port "$BASE" --cabinets "$1" --sdm120 0 --dds238 0 \
		--delay-ms "$2" --control "$CTL" > "$T/sim.log" 2>&1 &
	SIM=$!
	PIDS="$PIDS $MOSQ $SIM"
	for _ in $(seq 300); do grep -q ready "$T/sim.log" && port_busy "$MQ" && return 0; sleep 0.1; done
	echo "bench: simulator or broker did not start" >&2
	cat "$T/sim.log" >&2
	exit 1
}

stop_world() {
	kill $SIM $MOSQ 2>/dev/null
	wait $SIM $MOSQ 2>/dev/null
}

# measure PID N TOOL REQ_PER_POLL: prints "polls cpu_ms_per_1000 rss_kb alive"
measure() {
	local pid=$1 n=$2 rpp=$3 c0 c1 r0 r1 rss alive=1
	sleep "$WARMUP"
	kill -0 "$pid" 2>/dev/null || { echo "0 0 0 0"; return; }
	c0=$(cpu_ticks "$pid") r0=$(sim_requests)
	sleep "$SECS"
	kill -0 "$pid" 2>/dev/null || alive=0
	c1=$(cpu_ticks "$pid") r1=$(sim_requests) rss=$(hwm_kb "$pid")
	local polls=$(( (r1 - r0) / rpp ))
	local cpu_ms=$(( (c1 - c0) * 1000 / HZ ))
	awk -v p="$polls" -v c="$cpu_ms" -v r="$rss" -v a="$alive" \
		'BEGIN { printf "%d %.1f %d %d\n", p, (p > 0 ? c * 1000.0 / p : 0), r, a }'
}

run_wardgw() { # N DELAY [keep] -> line; keep: run on the database already in $T/wardgw-data
	local n=$1
	cat > "$T/gw.conf" <<EOC
gateway = { id = "bench"; lat = 11.8; lon = 106.9; data_dir = "$T/wardgw-data"; };
log = { level = "warn"; };
mqtt = { uri = "tcp://127.0.0.1:$MQ"; qos = 1; };
profiles_dir = "$ROOT/bench/profiles";
devices = ( { name = "cab"; count = $n; host = "$SIM_ADDR"; port = $BASE; profile = "bench10";
              poll_interval_ms = 1000; timeout_ms = 500; } );
EOC
	[ "${3:-}" = keep ] || rm -rf "$T/wardgw-data"
	pin 0 "$BDIR/wardgw" run -c "$T/gw.conf" --stats "$T/stats.json" > "$T/wardgw.log" 2>&1 &
	local pid=$!
	PIDS="$PIDS $pid"
	local m
	m=$(measure "$pid" "$n" 1)
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	local ontime="-" sched ok
	if [ -s "$T/stats.json" ]; then
		sched=$(jq .scheduled "$T/stats.json") ok=$(jq .on_time "$T/stats.json")
		ontime=$(awk -v a="$ok" -v b="$sched" 'BEGIN { printf "%.1f", (b ? 100 * a / b : 0) }')
	fi
	echo "$m $ontime"
}

run_collectd() { # N DELAY -> line
	local n=$1 i
	{
		echo "Hostname \"bench\""
		echo "FQDNLookup false"
		echo "BaseDir \"$T/collectd\""
		echo "PIDFile \"$T/collectd.pid\""
		echo "TypesDB \"/usr/share/collectd/types.db\""
		echo "Interval 1"
		echo "LoadPlugin modbus"
		echo "LoadPlugin mqtt"
		echo "<Plugin modbus>"
		for i in $(seq 0 9); do
			printf '  <Data "r%d">\n    RegisterBase %d\n    RegisterType Uint16\n    RegisterCmd ReadHolding\n    Type gauge\n    Instance "r%d"\n  </Data>\n' "$i" "$i" "$i"
		done
		for i in $(seq 0 $((n - 1))); do
			printf '  <Host "cab%04d">\n    Address "127.0.0.1"\n    Port "%d"\n    Interval 1\n    <Slave 1>\n      Instance "cab"\n' "$i" $((BASE + i))
			for r in $(seq 0 9); do printf '      Collect "r%d"\n' "$r"; done
			printf '    </Slave>\n  </Host>\n'
		done
		echo "</Plugin>"
		echo "<Plugin mqtt>"
		echo "  <Publish \"ioc\">"
		echo "    Host \"127.0.0.1\""
		echo "    Port \"$MQ\""
		echo "    ClientId \"collectd-bench\""
		echo "    QoS 1"
		echo "  </Publish>"
		echo "</Plugin>"
	} > "$T/collectd.conf"
	mkdir -p "$T/collectd"
	pin 0 "$COLLECTD" -f -C "$T/collectd.conf" > "$T/collectd.log" 2>&1 &
	local pid=$!
	PIDS="$PIDS $pid"
	local m
	m=$(measure "$pid" "$n" 10)
	if grep -q 'bit out of range\|buffer overflow detected' "$T/collectd.log"; then
		echo "aborted"
	elif ! kill -0 "$pid" 2>/dev/null || [ "${m%% *}" = 0 ]; then
		# died some other way, or the simulator stopped answering its
		# control port (it starves when collectd floods it): no figure
		echo "nopolls"
	else
		echo "$m -"
	fi
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# --- poll: wardgw against collectd -------------------------------------
run_poll() {
	command -v "$COLLECTD" >/dev/null || echo "bench: $COLLECTD not found; collectd columns will be empty" >&2
	echo "wardgw benchmark: ten u16 registers per device, 1 s polls, QoS 1 publish; warm-up ${WARMUP}s, window ${SECS}s"
	echo "machine: $(nproc) CPUs, $(uname -r); simulator on CPU 1, tool on CPU 0"
	printf '\n%-8s %5s %6s %9s %9s %8s %9s %12s %8s\n' tool devices delay polls/s achieved on-time req/poll "cpu ms/1000" "rss MB"
	local ratios="" wfail=0 n d wp wc wr wa wo wps wach cl cp cc cr cps cach
	for n in $SIZES; do
		for d in $DELAYS; do
			start_world "$n" "$d"
			read -r wp wc wr wa wo <<< "$(run_wardgw "$n" "$d")"
			wps=$(awk -v p="$wp" -v s="$SECS" 'BEGIN { printf "%.0f", p / s }')
			wach=$(awk -v p="$wp" -v s="$SECS" -v n="$n" 'BEGIN { printf "%.1f%%", 100 * p / (s * n) }')
			[ "$wa" = 1 ] || wfail=1
			printf '%-8s %5d %4dms %9s %9s %7s%% %9s %12s %8.1f\n' wardgw "$n" "$d" "$wps" "$wach" "$wo" 1 "$wc" \
				"$(awk -v r="$wr" 'BEGIN { print r / 1024 }')"
			stop_world
			start_world "$n" "$d"
			cl=$(run_collectd "$n" "$d")
			if [ "$cl" = aborted ]; then
				printf '%-8s %5d %4dms %9s\n' collectd "$n" "$d" "aborted (libmodbus select() past FD_SETSIZE)"
				ratios="$ratios\n  $n devices, ${d} ms: collectd aborted; wardgw ${wc} ms CPU per 1000 polls"
			elif [ "$cl" = nopolls ]; then
				printf '%-8s %5d %4dms %9s\n' collectd "$n" "$d" "no polls measured (collectd died or the simulator was unreachable; see its log)"
				ratios="$ratios\n  $n devices, ${d} ms: no collectd figure; wardgw ${wc} ms CPU per 1000 polls"
			else
				read -r cp cc cr _ _ <<< "$cl"
				cps=$(awk -v p="$cp" -v s="$SECS" 'BEGIN { printf "%.0f", p / s }')
				cach=$(awk -v p="$cp" -v s="$SECS" -v n="$n" 'BEGIN { printf "%.1f%%", 100 * p / (s * n) }')
				printf '%-8s %5d %4dms %9s %9s %8s %9s %12s %8.1f\n' collectd "$n" "$d" "$cps" "$cach" "-" 10 "$cc" \
					"$(awk -v r="$cr" 'BEGIN { print r / 1024 }')"
				ratios="$ratios\n  $n devices, ${d} ms: wardgw/collectd CPU per poll = $(awk -v a="$wc" -v b="$cc" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'), polls achieved $(awk -v a="$wp" -v b="$cp" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')x"
			fi
			stop_world
		done
	done
	printf '\nratios (same run, same simulated devices):%b\n' "$ratios"
	echo
	echo "goal: <= 100 ms CPU per 1000 device polls (storing and publishing included), >= 99 % on time at 2000 devices"
	echo "on-time: wardgw's own count (poll started within max(50 ms, 5 % of the interval) of its slot and answered), whole run;"
	echo "         collectd has no such figure: 'achieved' is polls completed / polls scheduled in the window."
	echo "reproduce: BENCH_ONLY=poll BENCH_SIZES=\"$SIZES\" BENCH_DELAYS=\"$DELAYS\" BENCH_SECS=$SECS make bench"
	return $wfail
}

# --- ingest: the store against a minimal SQLite loop ----------------------
run_ingest() {
	echo "ingest benchmark: samples committed to SQLite per second, the store (gateway/store.c) against a minimal"
	echo "C loop writing the same rows to the same table (bench/ingest.c); pinned to CPU 0; median of $INGEST_ROUNDS rounds"
	echo
	local rc=0
	(pin 0 "$BDIR/bench-ingest" -n "$INGEST_N" -b "$INGEST_BATCH" -r "$INGEST_ROUNDS" -D "$T" $INGEST_X) || rc=$?
	echo "reproduce this part: BENCH_ONLY=ingest BENCH_INGEST_N=$INGEST_N BENCH_INGEST_BATCH=$INGEST_BATCH BENCH_INGEST_ROUNDS=$INGEST_ROUNDS BENCH_INGEST_ROLLUP=$INGEST_ROLLUP make bench"
	echo "note: the rates fall as the table grows: once the (series, ts) index is large, every commit writes"
	echo "      about one page per sample (WAL frame, then checkpoint); watch it: $B/bench-ingest -n 4000000 -r 1 -x -v 250000"
	return $rc
}

# --- history: chunks against rows, empty and with a large history ---------
# gw_row LABEL POLLS CPU RSS_KB ALIVE ON_TIME (run_wardgw's line): the
# gateway's row of the table; its CPU figure left in GW_CPU
gw_row() {
	GW_CPU=$3
	printf "%-34s %12s %14s %10s %10.1f\n" "$1" "$2" "$3" "$6" "$(awk -v r="$4" 'BEGIN { print r / 1024 }')"
}
# gw_on_history N SAMPLES LABEL: the gateway at N devices on a store into
# which bench-history generated SAMPLES of history (each series' last chunk
# open, as a checkpoint leaves it); its row, as gw_row
gw_on_history() {
	rm -rf "$T/wardgw-data"
	mkdir -p "$T/wardgw-data"
	"$BDIR/bench-history" -G "$T/wardgw-data/wardgw.db" -d "$1" -H "$2" | sed 's/^/  /' || rc=$?
	sync    # the generator's GB written back before the gateway's run, not during it
	gw_row "$3" $(run_wardgw "$1" 0 keep)
	rm -rf "$T/wardgw-data"
}
run_history() {
	echo "history benchmark: the store's cost as history grows, chunks (schema 6) and rows (schema 4) side by side"
	echo "(bench/history.c); pinned to CPU 0"
	echo
	local rc=0 line
	if hpart store; then
		(pin 0 "$BDIR/bench-history" -d "$HISTORY_DEVICES" -H "$HISTORY_SAMPLES" -O "$HISTORY_OLD" -s "$HISTORY_SECS" -Y "$HISTORY_ROLLUP_SERIES" -D "$T" $HISTORY_R) || rc=$?
		echo
	fi
	# the gateway itself, polling HISTORY_DEVICES simulated devices (bench10),
	# on an empty store and on one holding HISTORY_SAMPLES of history
	echo "the gateway polling (10 registers, 1 s, QoS 1), ${SECS} s after ${WARMUP} s, pinned to CPU 0:"
	printf "%-34s %12s %14s %10s %10s\n" "store" "polls" "CPU ms/1000" "on time %" "RSS MB"
	if hpart gateway; then
	start_world "$HISTORY_DEVICES" 0
	gw_row "$HISTORY_DEVICES devices, empty" $(run_wardgw "$HISTORY_DEVICES" 0)
	# the baseline of the constant-cost goal: a young store in the steady
	# state a gateway lives in (HISTORY_FRESH_S seconds of history, each
	# series' last chunk open, so chunks close from the first second, as on
	# the large history below); the empty store above closes none in its run
	gw_on_history "$HISTORY_DEVICES" "$((HISTORY_DEVICES * 10 * HISTORY_FRESH_S))" \
		"$HISTORY_DEVICES devices, ${HISTORY_FRESH_S} s of history"
	fresh_cpu=$GW_CPU
	gw_on_history "$HISTORY_DEVICES" "$HISTORY_SAMPLES" "$HISTORY_DEVICES devices, $HISTORY_SAMPLES of history"
	awk -v a="$fresh_cpu" -v b="$GW_CPU" -v f="$HISTORY_FRESH_S" -v h="$HISTORY_SAMPLES" 'BEGIN { if (a > 0)
		printf "  CPU per 1,000 polls, %s of history / %s s of history: %.2f (goal: within 15 %%)\n", h, f, b / a }'
	stop_world
	fi
	# the large ward: HISTORY_BIG devices (5,000) on HISTORY_SAMPLES of
	# history; goals: >= 99 % of polls on time, peak RSS <= 48 MB
	if [ "$HISTORY_BIG" -gt 0 ] && hpart big; then
		start_world "$HISTORY_BIG" 0 127.0.5.1
		gw_on_history "$HISTORY_BIG" "$HISTORY_SAMPLES" "$HISTORY_BIG devices, $HISTORY_SAMPLES of history"
		echo "  (goal at $HISTORY_BIG devices: >= 99 % on time, peak RSS <= 48 MB)"
		stop_world
	fi
	echo "reproduce this part: BENCH_ONLY=history BENCH_HISTORY_SAMPLES=$HISTORY_SAMPLES BENCH_HISTORY_OLD=$HISTORY_OLD BENCH_HISTORY_SECS=$HISTORY_SECS BENCH_HISTORY_DEVICES=$HISTORY_DEVICES BENCH_HISTORY_BIG=$HISTORY_BIG BENCH_HISTORY_ROLLUP_SERIES=$HISTORY_ROLLUP_SERIES BENCH_HISTORY_FRESH_S=$HISTORY_FRESH_S BENCH_HISTORY_PARTS=\"$HISTORY_PARTS\" BENCH_SECS=$SECS make bench"
	return $rc
}

# --- drain: backlog after a broker outage, 1000 devices polling -----------
now_ms() { date +%s%3N; }
# Telemetry rows in the outbox, all or (with ID) those with id <= ID; -1 when
# unreadable. By id, on the (lane, id) index: cheap while the gateway runs.
outbox_rows() {
	on_cpu 1 sqlite3 -cmd ".timeout 2000" "$DB" "SELECT count(*) FROM outbox WHERE lane = 1${1:+ AND id <= $1}" \
		2>/dev/null || echo -1
}
# The backlog when the gateway reconnected at MS: "rows last_id" of the telemetry older than MS.
outbox_backlog() {
	on_cpu 1 sqlite3 -cmd ".timeout 2000" -separator ' ' "$DB" \
		"SELECT count(*), ifnull(max(id), 0) FROM outbox WHERE lane = 1 AND ts < $1" 2>/dev/null || echo "-1 0"
}
start_broker() {
	pin 1 mosquitto -c "$T/mosq.conf" >> "$T/mosq.log" 2>&1 &
	MOSQ=$!
	PIDS="$PIDS $MOSQ"
	for _ in $(seq 100); do port_busy "$MQ" && return 0; sleep 0.05; done
	echo "bench: mosquitto did not come back on port $MQ" >&2
	return 1
}

# Live telemetry packs the subscriber received from polls started in
# [FROM, TO] ms (a pack's "bt" is when its poll started).
live_packs() { # FILE FROM TO
	awk -v from="$2" -v to="$3" '
	match($0, /"bt":[0-9.]+/) {
		bt = int(substr($0, RSTART + 5, RLENGTH - 5) * 1000 + 0.5)
		if (bt >= from && bt <= to) n++
	}
	END { print n + 0 }' "$1"
}
# "polls on_time_pct" from the gateway's last --live line (polls = ok + failed).
live_line() {
	tail -n 1 "$T/drain-live.txt" | sed -n 's/.*polls ok \([0-9]*\) failed \([0-9]*\) on-time \([0-9.]*\) %.*/\1 \2 \3/p' |
		awk '{ print $1 + $2, $3 }'
}

# run_drain RATE[:INFLIGHT]: prints one table row; RATE is msgs/s or "default",
# INFLIGHT an mqtt.max_inflight other than the default 500
run_drain() {
	local rate=${1%%:*} infl="" n=$DRAIN_DEVICES obconf="" mqconf="" gw sub t_down t_up t_conn="" t_done="" r0 r1 s0 s1 p0 p1 b_restart b0 last_id left lines live
	[ "$rate" = default ] || obconf="outbox = { backfill_per_s = $rate; };"
	case $1 in *:*) infl=${1#*:} mqconf=" max_inflight = $infl;" ;; esac
	start_world "$n" 0
	# CPU 0 is the gateway's alone: broker, subscriber and queries go with the simulator
	command -v taskset >/dev/null && taskset -pc 1 "$MOSQ" > /dev/null
	printf 'log_type error\nlog_type warning\nlog_type notice\nlog_type information\n' >> "$T/mosq.conf"
	cat > "$T/drain.conf" <<EOC
gateway = { id = "bench"; lat = 11.8; lon = 106.9; data_dir = "$T/drain-data"; };
log = { level = "warn"; };
mqtt = { uri = "tcp://127.0.0.1:$MQ"; qos = 1;$mqconf };
$obconf
profiles_dir = "$ROOT/bench/profiles";
devices = ( { name = "cab"; count = $n; host = "127.0.0.1"; port = $BASE; profile = "bench10";
              poll_interval_ms = 1000; timeout_ms = 500; } );
EOC
	rm -rf "$T/drain-data" "$T/drain-stats.json"
	DB=$T/drain-data/wardgw.db
	pin 0 "$BDIR/wardgw" run -c "$T/drain.conf" --stats "$T/drain-stats.json" --live 1 \
		> "$T/drain-live.txt" 2> "$T/drain-gw.log" &
	gw=$!
	PIDS="$PIDS $gw"
	# the IOC's side: every telemetry pack (live received during the drain)
	(pin 1 mosquitto_sub -h 127.0.0.1 -p "$MQ" -v -t 'ward/bench/telemetry/#' > "$T/sub.txt" 2> "$T/sub.log") &
	sub=$!
	PIDS="$PIDS $sub"
	sleep "$WARMUP"
	if ! kill -0 "$gw" 2>/dev/null || ! kill -0 "$SIM" 2>/dev/null; then
		echo "bench: wardgw or the simulator died; see below" >&2
		cat "$T/drain-gw.log" "$T/sim.log" >&2
		stop_world
		return 1
	fi
	t_down=$(now_ms)
	kill "$MOSQ"
	wait "$MOSQ" 2>/dev/null
	sleep "$OUTAGE"
	b_restart=$(outbox_rows)
	lines=$(wc -l < "$T/mosq.log")
	start_broker || { stop_world; return 1; }
	t_up=$(now_ms)
	while :; do
		if [ -z "$t_conn" ] && tail -n +"$((lines + 1))" "$T/mosq.log" | grep -q ' as wardgw-bench '; then
			t_conn=$(now_ms)
			r0=$(sim_requests)
			read -r s0 p0 <<< "$(live_line)"
			read -r b0 last_id <<< "$(outbox_backlog "$t_conn")"
		fi
		if [ -n "$t_conn" ]; then
			left=$(outbox_rows "$last_id")
			if [ "$left" = 0 ]; then
				t_done=$(now_ms)
				r1=$(sim_requests)
				read -r s1 p1 <<< "$(live_line)"
				break
			fi
		fi
		[ $(( $(now_ms) - t_up )) -gt $((DRAIN_MAX * 1000)) ] && break
		sleep 0.2
	done
	sleep 1         # the last packs reach the subscriber
	echo "down=$t_down up=$t_up conn=$t_conn done=$t_done" > "$T/drain-$rate.times"
	kill -TERM "$gw" 2>/dev/null
	wait "$gw" 2>/dev/null
	kill "$sub" 2>/dev/null
	wait "$sub" 2>/dev/null
	stop_world
	cp "$T/sub.txt" "$T/sub-$rate.txt" 2>/dev/null
	local label=$rate
	[ "$rate" = default ] && label="500 (default)"
	[ -n "$infl" ] && label="$label w$infl"
	if [ -z "$t_done" ]; then
		printf '%-14s %6s %8s  not drained within %s s (reconnected: %s; left: %s)\n' "$label" "$OUTAGE" "$b_restart" \
			"$DRAIN_MAX" "${t_conn:+yes}" "${left:-?}"
		return 1
	fi
	local st_ok="-" lmax="-"
	if [ -s "$T/drain-stats.json" ]; then
		st_ok=$(jq -r 'if .scheduled > 0 then 100 * .on_time / .scheduled else 0 end' "$T/drain-stats.json" |
			awk '{ printf "%.1f%%", $1 }')
		lmax=$(jq -r '.lateness_max_us / 1000 | floor' "$T/drain-stats.json")
	fi
	live=$(live_packs "$T/sub.txt" "$t_conn" "$t_done")
	awk -v rate="$label" -v out="$OUTAGE" -v br="$b_restart" -v b0="$b0" -v tu="$t_up" -v tc="$t_conn" -v td="$t_done" \
		-v r0="$r0" -v r1="$r1" -v n="$n" -v live="$live" -v s0="${s0:-0}" -v p0="${p0:-0}" -v s1="${s1:-0}" \
		-v p1="${p1:-0}" -v sok="$st_ok" -v lmax="$lmax" 'BEGIN {
		d = (td - tc) / 1000
		# on time over the drain, from the two cumulative --live figures
		ot = s1 > s0 ? sprintf("%.1f%%", (p1 * s1 - p0 * s0) / (s1 - s0)) : "-"
		printf "%-14s %6d %8d %8d %7.1f %7.1f %9.0f %9.1f%% %9.1f%% %9s %9s %7s\n", rate, out, br, b0,
			(tc - tu) / 1000, d, (d > 0 ? b0 / d : 0), (d > 0 ? 100 * (r1 - r0) / (n * d) : 0),
			(d > 0 ? 100 * live / (n * d) : 0), ot, sok, lmax
	}'
}

run_drain_all() {
	local rc=0 r
	echo "drain benchmark: $DRAIN_DEVICES cabinets polled every second (10 registers, one pack each), broker stopped"
	echo "for ${OUTAGE}s then started again on the same port; wardgw on CPU 0, simulator on CPU 1;"
	echo "default outbox and window (mqtt.max_inflight 500: the backlog gets at most 250 in flight) but for"
	echo "outbox.backfill_per_s (and max_inflight where a row says wN)"
	printf '\n%-14s %6s %8s %8s %7s %7s %9s %10s %10s %9s %9s %7s\n' backfill/s outage "at up" backlog \
		"reconn" "drain" "msgs/s" "polls" "live" "on-time" "on-time" "late"
	printf '%-14s %6s %8s %8s %7s %7s %9s %10s %10s %9s %9s %7s\n' "(configured)" "s" "msgs" "msgs" \
		"s" "s" backlog "achieved" "received" "(drain)" "(run)" "max ms"
	for r in $DRAIN_RATES; do
		run_drain "$r" || rc=1
	done
	echo
	echo "at up: telemetry rows in the outbox when the broker came back; backlog: rows older than the gateway's"
	echo "reconnection (its backoff runs up to 30 s, so 'reconn' s after the broker is back), drained in 'drain' s."
	echo "polls achieved: the simulator's request counter over the drain / (devices x seconds); live received:"
	echo "telemetry packs of polls started during the drain that a subscriber got / polls due. on-time: the gateway's"
	echo "own count (started within 50 ms of its slot and answered), over the drain (from its --live figures, +-1 s"
	echo "at each end) and over the whole run (--stats, with the greatest lateness)."
	echo "reproduce: BENCH_ONLY=drain BENCH_DRAIN_DEVICES=$DRAIN_DEVICES BENCH_OUTAGE=$OUTAGE BENCH_DRAIN_RATES=\"$DRAIN_RATES\" make bench"
	return $rc
}

# --- rtu: a simulated serial bus, achieved requests/s vs its budget --------
RTU_UNITS=${BENCH_RTU_UNITS:-150}
RTU_BAUDS=${BENCH_RTU_BAUDS:-9600 19200 38400 115200}
RTU_TURN=${BENCH_RTU_TURNAROUND:-5}
RTU_SECS=${BENCH_RTU_SECS:-10}
run_rtu() {
	local baud ctl rc=0
	echo "rtu benchmark: $RTU_UNITS cabinets (1 read of 16 registers each) on one simulated RS-485 bus (a pty), each"
	echo "polled every second, 8N1, slave turnaround $RTU_TURN ms; achieved over ${RTU_SECS} s vs the budget of wardgw check"
	printf '%-8s %10s %12s %12s %10s %10s
' baud "needed/s" "budget/s" "achieved/s" "achieved" "ms/req"
	for baud in $RTU_BAUDS; do
		ctl=$(free_port)
		"$BDIR/wardgw-sim" --rtu-pty "$T/pty" --cabinets "$RTU_UNITS" --sdm120 0 --dds238 0 --line "$baud:8N1" \
			--turnaround-ms "$RTU_TURN" --freeze --control "$ctl" > "$T/rtu-sim.log" 2>&1 &
		local sim=$!
		PIDS="$PIDS $sim"
		for _ in $(seq 50); do grep -q ready "$T/rtu-sim.log" && break; sleep 0.1; done
		cat > "$T/rtu.conf" <<EOC
gateway = { id = "bench-rtu"; ward = "bench"; lat = 11.8; lon = 106.9; data_dir = "$T/rtu-data-$baud"; };
log = { level = "warn"; };
mqtt = { uri = "tcp://127.0.0.1:1"; };
profiles_dir = "$ROOT/config/profiles";
devices = ( { name = "bus"; driver = "modbus-rtu"; serial = "$(cat "$T/pty")"; baud = $baud; unit = 1;
  count = $RTU_UNITS; profile = "lighting-cabinet"; poll_interval_ms = 1000; timeout_ms = 500;
  turnaround_ms = $RTU_TURN; } );
EOC
		local line budget needed
		line=$("$BDIR/wardgw" check -c "$T/rtu.conf" | grep '^bus ')
		needed=$(echo "$line" | sed -n 's/.* need \([0-9.]*\) requests.*/\1/p')
		budget=$(echo "$line" | sed -n 's/.*the line carries \([0-9.]*\)\/s.*/\1/p')
		"$BDIR/wardgw" run -c "$T/rtu.conf" --run-secs $((RTU_SECS + 3)) > "$T/rtu-gw-$baud.log" 2>&1 &
		local gw=$!
		PIDS="$PIDS $gw"
		sleep 2
		local r0 r1 t0 t1
		r0=$("$BDIR/wardgw-sim" --ctl "$ctl" stats | awk -F= '$1 == "requests" { print $2 }')
		t0=$(date +%s%N)
		sleep "$RTU_SECS"
		r1=$("$BDIR/wardgw-sim" --ctl "$ctl" stats | awk -F= '$1 == "requests" { print $2 }')
		t1=$(date +%s%N)
		wait "$gw" 2>/dev/null
		kill "$sim" 2>/dev/null
		wait "$sim" 2>/dev/null
		awk -v b="$baud" -v n="$needed" -v bu="$budget" -v r="$((r1 - r0))" -v dt="$(( (t1 - t0) / 1000000 ))" \
			'BEGIN { a = r * 1000 / dt; printf "%-8s %10.1f %12.1f %12.1f %9.1f%% %10.1f\n", b, n, bu, a, 100 * a / bu, 1000 / a }'
		[ "$((r1 - r0))" -gt 0 ] || rc=1
	done
	echo "budget/s: what wardgw check computes the line carries at these frame sizes (45 bytes a request and reply,"
	echo "10 bits a byte, a 3.5-character gap, the turnaround); achieved: requests the simulated slaves received per"
	echo "second while every unit wanted polling. The rest of each request is the pty, libmodbus and the bus worker."
	echo "reproduce: BENCH_ONLY=rtu BENCH_RTU_UNITS=$RTU_UNITS BENCH_RTU_BAUDS=\"$RTU_BAUDS\" BENCH_RTU_SECS=$RTU_SECS make bench"
	return $rc
}

# province: BENCH_PROVINCE_GATEWAYS real wardgw (BENCH_PROVINCE_DEVICES
# simulated cabinets each, polled every BENCH_PROVINCE_POLL_MS, two KPIs
# in 1-minute windows) with two links each (scripts/province.sh): the ward
# broker (one mosquitto for all; BENCH_PROVINCE_WARD=0: none) and the
# 3-node nats-server cluster, with per-gateway rights (bcrypt cost
# BENCH_PROVINCE_COST) and a durable provincial reader. Over
# BENCH_PROVINCE_SECS after a warm-up: messages/s the reader received and
# the gateways sent it, CPU and RSS per gateway (median, worst), per node
# and of the ward broker. Then the node most gateways' province links are
# on is SIGKILLed for BENCH_OUTAGE s and started again: failover time per
# gateway (kill -> its next "connected" line, on another node), median and
# worst; the ward links meanwhile (longest gap between two of a gateway's
# packs at a ward subscriber, links that reconnected); the gateways are
# stopped and what each stored is compared with what the reader got
# (nothing lost).
run_province() {
	local pd="$T/province" base rc=0 i pid t0 t1 secs
	local gw_pids="" node_pids="" lines0 lines1 sent0 sent1
	command -v nats-server >/dev/null || { echo "province: nats-server not installed" >&2; return 1; }
	base=$(free_port $((100 + PROV_GATEWAYS * PROV_DEVICES + 10))) || return 1
	echo "== province: $PROV_GATEWAYS gateways x $PROV_DEVICES cabinets, poll ${PROV_POLL_MS} ms, 3-node nats-server cluster (bcrypt cost $PROV_COST)"
	local ward_opt=""
	[ "$PROV_WARD" = 1 ] || ward_opt=--no-ward
	if ! B=$B "$ROOT/scripts/province.sh" start "$pd" --gateways "$PROV_GATEWAYS" --devices "$PROV_DEVICES" \
		--poll-ms "$PROV_POLL_MS" --kpi-window 1m --base-port "$base" --cost "$PROV_COST" $ward_opt > "$T/province-start.out" 2>&1; then
		tail -n 5 "$T/province-start.out" >&2
		B=$B "$ROOT/scripts/province.sh" stop "$pd" >/dev/null 2>&1
		return 1
	fi
	PROVINCE_DIR=$pd
	for i in $(seq 1 "$PROV_GATEWAYS"); do gw_pids="$gw_pids $(cat "$pd/gw-$i/pid")"; done
	for i in 1 2 3; do node_pids="$node_pids $(cat "$pd/c/n$i/nats.pid")"; done
	PIDS="$PIDS $gw_pids $node_pids $(cat "$pd/reader.pid") $(cat "$pd/sim.pid")"
	. "$pd/province.env"     # PLINK: the name of the cluster's link; WARD_PORT
	local ward_pid=""
	if [ -n "$WARD_PORT" ]; then
		ward_pid=$(cat "$pd/ward.pid")
		# the ward subscriber: each ward telemetry pack, stamped when it arrives
		mosquitto_sub -V mqttv311 -h 127.0.0.1 -p "$WARD_PORT" -i ward-ioc -q 1 -t 'ward/+/telemetry/#' -F '%U %t' \
			> "$T/ward.txt" 2>/dev/null &
		PIDS="$PIDS $ward_pid $!"
	fi
	grep '^# ' "$T/province-start.out" | sed 's/^# /   connected: /'
	sleep "$WARMUP"
	# what the gateways' links to the cluster sent, and their states
	plink_all() { local i; for i in $(seq 1 "$PROV_GATEWAYS"); do
		jq -r --arg n "$PLINK" --arg f "$1" '.links[] | select(.name == $n) | .[$f]' "$pd/gw-$i/data/status.json" 2>/dev/null; done; }
	sent_total() { plink_all sent | awk '{ s += $1 } END { print s + 0 }'; }
	declare -A c0
	for pid in $gw_pids $node_pids $ward_pid; do c0[$pid]=$(cpu_ticks "$pid"); done
	local wlines0 wlines1
	wlines0=$( [ -z "$WARD_PORT" ] || wc -l < "$T/ward.txt")
	lines0=$(wc -l < "$pd/reader.txt") sent0=$(sent_total) t0=$(date +%s%3N)
	sleep "$PROV_SECS"
	t1=$(date +%s%3N) lines1=$(wc -l < "$pd/reader.txt") sent1=$(sent_total)
	wlines1=$( [ -z "$WARD_PORT" ] || wc -l < "$T/ward.txt")
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1000 }')
	pct() { awk -v t="$1" -v hz="$HZ" -v s="$secs" 'BEGIN { printf "%.2f\n", 100 * t / hz / s }'; }
	rss_kb() { awk '/VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
	: > "$T/gw-cpu" ; : > "$T/gw-rss"
	for pid in $gw_pids; do
		pct $(( $(cpu_ticks "$pid") - ${c0[$pid]} )) >> "$T/gw-cpu"
		rss_kb "$pid" >> "$T/gw-rss"
	done
	stats() { sort -n "$1" | awk '{ v[NR] = $1; s += $1 } END { printf "%s %s %s", v[int((NR + 1) / 2)], v[NR], s }'; }
	read -r gcpu_med gcpu_max gcpu_sum < <(stats "$T/gw-cpu")
	read -r grss_med grss_max grss_sum < <(stats "$T/gw-rss")
	local ncpu="" nrss="" ncpu_sum=0 nrss_sum=0 v
	for pid in $node_pids; do
		v=$(pct $(( $(cpu_ticks "$pid") - ${c0[$pid]} )))
		ncpu="$ncpu $v"; ncpu_sum=$(awk -v a="$ncpu_sum" -v b="$v" 'BEGIN { print a + b }')
		v=$(rss_kb "$pid"); nrss="$nrss $((v / 1024))"; nrss_sum=$((nrss_sum + v / 1024))
	done
	local rate_in rate_sent ward_rate="-" ward_cpu="-" ward_rss="-"
	if [ -n "$WARD_PORT" ]; then
		ward_rate=$(awk -v n=$((wlines1 - wlines0)) -v s="$secs" 'BEGIN { printf "%.1f", n / s }')
		ward_cpu=$(pct $(( $(cpu_ticks "$ward_pid") - ${c0[$ward_pid]} )))
		ward_rss=$(( $(rss_kb "$ward_pid") / 1024 ))
	fi
	rate_in=$(awk -v n=$((lines1 - lines0)) -v s="$secs" 'BEGIN { printf "%.1f", n / s }')
	rate_sent=$(awk -v n=$((sent1 - sent0)) -v s="$secs" 'BEGIN { printf "%.1f", n / s }')

	# failover: the node most gateways are on, killed for OUTAGE s
	. "$pd/c/cluster.env"
	B=$B "$ROOT/scripts/province.sh" nodes "$pd" > "$T/nodes.before"
	local victim_uri victim=0 k=0 u kill_ms end
	victim_uri=$(grep -v '^#' "$T/nodes.before" | awk '{ print $2 }' | sort | uniq -c | sort -k1,1nr -k2 | head -n 1 | awk '{ print $2 }')
	for u in $MQTT_URIS; do k=$((k + 1)); [ "$u" = "$victim_uri" ] && victim=$k; done
	kill_ms=$("$ROOT/scripts/province-cluster.sh" kill "$pd/c" "$victim")
	end=$((SECONDS + OUTAGE))
	until B=$B "$ROOT/scripts/province.sh" moves "$pd" "$kill_ms" "$victim_uri" > "$T/moves" 2>/dev/null; do
		[ $SECONDS -lt $end ] || break
		sleep 0.5
	done
	while [ "$(date +%s%3N)" -lt $((kill_ms + OUTAGE * 1000)) ]; do sleep 0.5; done
	"$ROOT/scripts/province-cluster.sh" restart "$pd/c" "$victim" > "$T/restart.out" 2>&1 || { cat "$T/restart.out" >&2; rc=1; }
	B=$B "$ROOT/scripts/province.sh" moves "$pd" "$kill_ms" "$victim_uri" > "$T/moves" 2>/dev/null
	local moved notmoved fo_med fo_max
	moved=$(awk '$2 != "-"' "$T/moves" | wc -l) notmoved=$(awk '$2 == "-"' "$T/moves" | wc -l)
	read -r fo_med fo_max < <(awk '$2 != "-" { print $2 }' "$T/moves" | sort -n | awk '{ v[NR] = $1 } END { printf "%s %s", v[int((NR + 1) / 2)], v[NR] }')
	local dropped=0 lost_pats=() restart_ms
	restart_ms=$(date +%s%3N)
	for u in $MQTT_URIS; do lost_pats+=(-e "mqtt $u: connection lost"); done
	for i in $(seq 1 "$PROV_GATEWAYS"); do
		grep -q "^gw-$i " "$T/moves" && continue
		grep -F "${lost_pats[@]}" "$pd/gw-$i/gateway.log" | awk '{ print $1 " " $2 }' | while read -r d; do
			[ "$(date -d "$d" +%s%3N)" -ge "$kill_ms" ] && { echo x; break; }; done | grep -q x && dropped=$((dropped + 1))
	done
	# every link up again, then a minute for a KPI window to close after the restart
	local up=0
	end=$((SECONDS + 120))
	while [ $SECONDS -lt $end ]; do
		up=0
		up=$(plink_all state | grep -c '^up$')
		[ $up = "$PROV_GATEWAYS" ] && break
		sleep 1
	done
	sleep 60
	# the ward links across the outage: the longest gap between two of a
	# gateway's packs at the ward subscriber from a poll before the kill to
	# a poll after the restart (median and worst over the gateways), and
	# the ward links that were lost (a "connection lost" line)
	local ward_gap="-" ward_lost="-"
	if [ -n "$WARD_PORT" ]; then
		ward_gap=$(awk -v lo=$((kill_ms - PROV_POLL_MS)) -v hi=$((restart_ms + PROV_POLL_MS)) '
			{ ms = int($1 * 1000); split($2, a, "/"); g = a[2]
			  if (g in prev && prev[g] <= hi && ms >= lo && ms - prev[g] > gap[g]) gap[g] = ms - prev[g]
			  prev[g] = ms }
			END { for (g in prev) print gap[g] + 0 }' "$T/ward.txt" | sort -n |
			awk '{ v[NR] = $1 } END { printf "median %s ms, worst %s ms over %d gateways", v[int((NR + 1) / 2)], v[NR], NR }')
		ward_lost=$(grep -lF "mqtt tcp://127.0.0.1:$WARD_PORT: connection lost" "$pd"/gw-*/gateway.log 2>/dev/null | wc -l)
	fi
	for pid in $gw_pids; do kill -TERM "$pid" 2>/dev/null; done
	for pid in $gw_pids; do for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; done
	end=$((SECONDS + 120))
	until python3 "$ROOT/scripts/province-report.py" --wardgw "$BDIR/wardgw" "$pd" > "$T/report.txt" 2>&1; do
		[ $SECONDS -lt $end ] || break
		sleep 2
	done
	python3 "$ROOT/scripts/province-report.py" --json --wardgw "$BDIR/wardgw" "$pd" > "$T/report.json" 2>/dev/null
	local lost dups stored
	lost=$(jq '.total.kpi_missing + .total.telemetry_missing' "$T/report.json")
	dups=$(jq '.total.kpi_duplicates + .total.telemetry_duplicates' "$T/report.json")
	stored=$(jq '"\(.total.kpi_stored) KPI windows, \(.total.telemetry_stored) telemetry packs"' -r "$T/report.json")
	[ "$lost" = 0 ] || rc=1
	[ "$notmoved" = 0 ] || rc=1
	printf '   %-44s %s\n' \
		"messages/s received by the reader" "$rate_in (the gateways' links to the cluster sent $rate_sent/s, their online status included) over $secs s" \
		"CPU per gateway, % of a core" "median $gcpu_med, worst $gcpu_max (all $PROV_GATEWAYS: $gcpu_sum)" \
		"RSS per gateway" "median $((grss_med / 1024)) MB, worst $((grss_max / 1024)) MB (all: $((grss_sum / 1024)) MB)" \
		"CPU per node, % of a core (n1 n2 n3)" "$ncpu (cluster: $ncpu_sum)" \
		"RSS per node, MB (n1 n2 n3)" "$nrss (cluster: $nrss_sum MB)" \
		"ward broker (mosquitto): messages/s in" "$ward_rate telemetry packs (at the ward subscriber); CPU $ward_cpu % of a core, RSS $ward_rss MB" \
		"node killed for ${OUTAGE} s" "n$victim ($victim_uri), $((moved + notmoved)) gateways on it" \
		"failover (kill -> connected elsewhere)" "median $fo_med ms, worst $fo_max ms; $moved moved, $notmoved did not" \
		"gateways of other nodes also dropped" "$dropped (the cluster closes publishers while stream leaders move)" \
		"links up after the restart" "$up of $PROV_GATEWAYS" \
		"ward links across the outage: longest gap" "$ward_gap (poll $PROV_POLL_MS ms)" \
		"ward links lost meanwhile" "$ward_lost" \
		"stored by the gateways" "$stored" \
		"lost (stored, not at the reader, not in an outbox)" "$lost" \
		"duplicates at the reader" "$dups"
	tail -n 1 "$T/report.txt" | sed 's/^/   report: /'
	B=$B "$ROOT/scripts/province.sh" stop "$pd" > /dev/null 2>&1
	PROVINCE_DIR=""
	echo "reproduce: BENCH_ONLY=province BENCH_PROVINCE_GATEWAYS=$PROV_GATEWAYS BENCH_PROVINCE_DEVICES=$PROV_DEVICES BENCH_PROVINCE_POLL_MS=$PROV_POLL_MS BENCH_PROVINCE_SECS=$PROV_SECS BENCH_PROVINCE_COST=$PROV_COST BENCH_PROVINCE_WARD=$PROV_WARD BENCH_OUTAGE=$OUTAGE make bench"
	return $rc
}

status=0
if wants poll; then run_poll || status=1; echo; fi
if wants rtu; then run_rtu || status=1; echo; fi
if wants ingest; then run_ingest || status=1; echo; fi
if wants history; then run_history || status=1; echo; fi
if wants drain; then run_drain_all || status=1; fi
if wants province; then run_province || status=1; fi
exit $status
