#!/usr/bin/env bash
# Benchmark (`make bench`): wardgw and collectd (Debian's collectd-core,
# modbus + mqtt plugins) polling the same simulated devices, ten registers
# each, every second, publishing QoS 1 to the same local mosquitto.
#
#   BENCH_SIZES="100 1000 2000" BENCH_DELAYS="0 10" BENCH_SECS=20 scripts/bench.sh
#
# For each size and reply delay: the simulator runs pinned to CPU 1, the
# tool under test to CPU 0. CPU and polls are counted over a window after a
# warm-up (WARMUP s): CPU from /proc/PID/stat, polls from the simulator's
# request counter (wardgw reads the ten registers in one request, collectd
# sends one request per register, so collectd polls = requests / 10).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZES=${BENCH_SIZES:-100 1000 2000}
DELAYS=${BENCH_DELAYS:-0 10}
SECS=${BENCH_SECS:-20}
WARMUP=${BENCH_WARMUP:-5}
COLLECTD=${COLLECTD:-/usr/sbin/collectd}
T=$(mktemp -d "${TMPDIR:-/tmp}/wardgw-bench.XXXXXX")
HZ=$(getconf CLK_TCK)
PIDS=""
trap 'for p in $PIDS; do kill $p 2>/dev/null; done; sleep 0.5; for p in $PIDS; do kill -9 $p 2>/dev/null; done; rm -rf "$T"' EXIT

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
	local n=${1:-1} p i busy hi
	hi=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	for _ in $(seq 200); do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % (hi - 10000 - n)))
		busy=0
		for i in 0 $((n / 2)) $((n - 1)); do port_busy $((p + i)) && { busy=1; break; }; done
		[ $busy = 0 ] && { echo $p; return 0; }
	done
	return 1
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
hwm_kb() { awk '/VmHWM/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
sim_requests() { "$ROOT/build/wardgw-sim" --ctl "$CTL" stats | awk -F= '/requests/ { print $2 }'; }
# exec, so that $! of a backgrounded call is the program itself
pin() { if command -v taskset >/dev/null; then exec taskset -c "$1" "${@:2}"; else exec "${@:2}"; fi; }

start_world() { # N DELAY
	MQ=$(free_port) BASE=$(free_port "$1") CTL=$(free_port)
	printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n' "$MQ" > "$T/mosq.conf"
	mosquitto -c "$T/mosq.conf" > "$T/mosq.log" 2>&1 &
	MOSQ=$!
	pin 1 "$ROOT/build/wardgw-sim" --base-port "$BASE" --cabinets "$1" --sdm120 0 --dds238 0 \
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

run_wardgw() { # N DELAY -> line
	local n=$1
	cat > "$T/gw.conf" <<EOC
gateway = { id = "bench"; lat = 11.8; lon = 106.9; data_dir = "$T/wardgw-data"; };
log = { level = "warn"; };
mqtt = { uri = "tcp://127.0.0.1:$MQ"; qos = 1; };
profiles_dir = "$ROOT/bench/profiles";
devices = ( { name = "cab"; count = $n; host = "127.0.0.1"; port = $BASE; profile = "bench10";
              poll_interval_ms = 1000; timeout_ms = 500; } );
EOC
	rm -rf "$T/wardgw-data"
	pin 0 "$ROOT/build/wardgw" run -c "$T/gw.conf" --stats "$T/stats.json" > "$T/wardgw.log" 2>&1 &
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

command -v "$COLLECTD" >/dev/null || echo "bench: $COLLECTD not found; collectd columns will be empty" >&2
echo "wardgw benchmark: ten u16 registers per device, 1 s polls, QoS 1 publish; warm-up ${WARMUP}s, window ${SECS}s"
echo "machine: $(nproc) CPUs, $(uname -r); simulator on CPU 1, tool on CPU 0"
printf '\n%-8s %5s %6s %9s %9s %8s %9s %12s %8s\n' tool devices delay polls/s achieved on-time req/poll "cpu ms/1000" "rss MB"
ratios=""
wfail=0
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
			read -r cp cc cr ca co <<< "$cl"
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
echo "reproduce: BENCH_SIZES=\"$SIZES\" BENCH_DELAYS=\"$DELAYS\" BENCH_SECS=$SECS make bench"
exit $wfail
