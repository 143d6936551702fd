#!/usr/bin/env bash
# A province on one machine (docs/province.md): the 3-node nats-server
# cluster of scripts/province-cluster.sh with the rights of N gateways, a
# ward broker (one mosquitto standing for every ward's IOC), N real wardgw
# processes on simulated wards (one build/wardgw-sim serving every ward's
# cabinets), each with two links: its mqtt section to the ward broker
# (prefix "ward") and a link "province" whose uris list the three nodes (in
# a rotated order, so the gateways spread over the nodes), and a
# provincial reader with a durable session (mosquitto_sub -c) writing what
# arrives.
#
# Usage: province.sh run    [DIR] [options]  start, report every --every s,
#                                            stop everything on ^C (or after --secs)
#        province.sh start  DIR [options]    start and return (processes stay)
#        province.sh report DIR [--json]     what arrived per gateway
#        province.sh nodes  DIR              which node each gateway is on
#        province.sh moves  DIR MS URI       gateways that were on node URI at time MS
#                                            (epoch ms, a kill): when each connected
#                                            elsewhere (ms after MS); exit 1 until all did
#        province.sh stop   DIR              stop everything by PID
# Options (start, run):
#   --gateways N      gateways (5)            --devices D   cabinets each (10)
#   --poll-ms MS      poll interval (10000)   --kpi-window W  KPI window (1m)
#   --base-port P     cluster ports P..P+23 (14220); the simulator's devices
#                     from P+100 (N x D ports), its control port P+99, the
#                     ward broker P+98
#   --cost N          bcrypt cost of the passwords (10)
#   --keepalive S     mqtt.keepalive (10)     --secs S / --every S (run: 0 / 30)
#   --stagger-ms MS   between two gateways' starts (100)
#   --http-port P     gateway I serves its status page and /metrics on P+I-1
#   --ward-port P     the ward broker is the mosquitto already listening on
#                     127.0.0.1:P (default: one started here on base+98)
#   --no-ward         no ward link: the mqtt section goes to the cluster
#
# report compares, per gateway, what the gateway stored (KPI windows in
# its kpi_value table, polls in `wardgw query --all`, what still waits in its
# outbox) with what the reader got (scripts/province-report.py): KPI windows
# and telemetry packs received, seq ranges, missing, duplicates. Read it with
# the gateways stopped (stop does not remove DIR) for exact figures; while
# they run, what the cluster acknowledged in the last moments may show as
# missing until it reaches the reader.
#
# Everything runs under DIR: c/ (the cluster), sim.*, reader.*, gw-I/
# (gateway.conf, password, data/, gateway.log, pid). stop signals the PIDs
# in those files (after checking each is the process it should be).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
B=${B:-build}
case $B in /*) BDIR=$B ;; *) BDIR=$ROOT/$B ;; esac
WARDGW=$BDIR/wardgw
SIM=$BDIR/wardgw-sim

die() { echo "province: $*" >&2; exit 1; }
usage() { sed -n '12,33p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 1 ] || usage
cmd=$1
shift
dir=""
case $cmd in
run) if [ $# -ge 1 ] && [ "${1#-}" = "$1" ]; then dir=$1; shift; fi ;;
start|report|stop|nodes) [ $# -ge 1 ] || usage; dir=$1; shift ;;
moves) [ $# -eq 3 ] || usage; dir=$1 kill_ms=$2 kill_uri=$3; shift 3 ;;
-h|--help) usage ;;
*) usage ;;
esac
# the PID checks compare command lines, which hold the absolute paths
[ "$cmd" = start ] || [ -z "$dir" ] || [ ! -d "$dir" ] || dir=$(cd "$dir" && pwd)
N=5 D=10 POLL=10000 KPIW=1m BASE=14220 COST=10 KEEPALIVE=10 SECS=0 EVERY=30 JSON="" STAGGER=0.1 HTTP=""
WARD=start WARD_PORT=""
num() { printf '%s' "$2" | grep -Eq '^[0-9]+$' && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ] ||
	die "$1 must be $3..$4 (got '$2')"; }
while [ $# -gt 0 ]; do
	case $1 in
	--json) JSON=1; shift; continue ;;
	--no-ward) WARD=none; shift; continue ;;
	esac
	[ $# -ge 2 ] || die "$1 needs a value"
	case $1 in
	--gateways) num "$1" "$2" 1 500; N=$2 ;;
	--devices) num "$1" "$2" 1 100; D=$2 ;;
	--poll-ms) num "$1" "$2" 100 3600000; POLL=$2 ;;
	--kpi-window) KPIW=$2 ;;
	--base-port) num "$1" "$2" 1024 60000; BASE=$2 ;;
	--cost) num "$1" "$2" 4 12; COST=$2 ;;
	--keepalive) num "$1" "$2" 5 3600; KEEPALIVE=$2 ;;
	--secs) num "$1" "$2" 0 1000000; SECS=$2 ;;
	--every) num "$1" "$2" 1 86400; EVERY=$2 ;;
	--http-port) num "$1" "$2" 1024 65000; HTTP=$2 ;;
	--ward-port) num "$1" "$2" 1 65535; WARD=port WARD_PORT=$2 ;;
	--stagger-ms) num "$1" "$2" 0 10000; STAGGER=$(awk -v m="$2" 'BEGIN { printf "%.3f", m / 1000 }') ;;
	*) die "unknown option '$1'" ;;
	esac
	shift 2
done

# pid_ok FILE WORD: the PID in FILE when that process's command line holds WORD
pid_ok() {
	local pid=""
	[ -r "$1" ] && read -r pid < "$1" || [ -n "$pid" ] || return 1
	printf '%s' "$pid" | grep -Eq '^[0-9]+$' || return 1
	{ tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$2" || return 1
	echo "$pid"
}

stop_file() { # FILE WORD
	local pid
	pid=$(pid_ok "$1" "$2") || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
}

# gateway_config I FILE: the config of gateway I (gw-I). Two links: the
# mqtt section to the ward broker (the ward's IOC: prefix "ward",
# everything) and "province" to the cluster, its uris listing the three
# nodes starting at node (I mod 3) + 1, with gw-I's credentials, carrying
# KPIs, events and telemetry. With --no-ward the mqtt section goes to the
# cluster instead (one link, everything).
gateway_config() {
	local i=$1 f=$2 uris="" k n cluster
	. "$dir/c/cluster.env"
	. "$dir/province.env"
	set -- $MQTT_URIS
	n=$#
	for k in $(seq 0 $((n - 1))); do
		eval "u=\${$(( (i + k) % n + 1 ))}"
		uris="$uris${uris:+, }\"$u\""
	done
	# the cluster's side, in the mqtt section or in the link
	cluster="uris = [ $uris ];
  topic_prefix = \"$PREFIX\";
  username = \"gw-$i\";
  password_file = \"$dir/gw-$i/password\";
  allow_plaintext_password = true;   # loopback only; ssl:// with ca_file in the field
  keepalive = $KEEPALIVE;
  # a CONNECT that a loaded node answers slowly (bcrypt, a new session in
  # JetStream, leaders being elected) is waited for, not abandoned: giving
  # up and retrying elsewhere wastes that work and, with a hundred
  # gateways at once, never converges (measured: 5 s did not)
  connect_timeout_s = 20;
  clean_session = false;
  qos = 1;"
	{
		echo "# gateway $i of the province in $dir (scripts/province.sh)"
		echo "gateway = { id = \"gw-$i\"; ward = \"ward $i\"; lat = 11.8; lon = 106.9; data_dir = \"$dir/gw-$i/data\"; };"
		echo 'log = { level = "info"; };'
		echo 'store = { path = "wardgw.db"; batch_ms = 500; };'
		if [ -n "$WARD_PORT" ]; then
			cat <<EOC
# the ward's IOC (its own broker; one mosquitto stands for every ward here)
mqtt = { uri = "tcp://127.0.0.1:$WARD_PORT"; topic_prefix = "ward"; keepalive = $KEEPALIVE; qos = 1; };
# the province's cluster
links = ( {
  name = "province";
  $cluster
  carries = [ "kpi", "event", "telemetry" ];
} );
EOC
		else
			printf 'mqtt = {\n  %s\n};\n' "$cluster"
		fi
		cat <<EOC
profiles_dir = "$ROOT/config/profiles";
device_defaults = { poll_interval_ms = $POLL; timeout_ms = 1000; backoff_max_ms = 10000; };
devices = ( { name = "cab"; count = $D; profile = "lighting-cabinet"; host = "127.0.0.1"; port = $((BASE + 100 + (i - 1) * D)); } );
$([ -z "$HTTP" ] || echo "http = { listen = \"127.0.0.1:$((HTTP + i - 1))\"; };")
kpis = (
  { name = "lighting.power"; domain = "lighting"; aggregate = "sum"; metric = "activePower"; window = "$KPIW"; unit = "W"; },
  { name = "lighting.online"; domain = "lighting"; aggregate = "availability"; window = "$KPIW"; }
);
EOC
	} > "$f"
}

# cluster_lines GW WHAT: GW's log lines "mqtt <node>: WHAT" for the nodes
# of the cluster (not its ward link's)
cluster_lines() {
	local u pats=()
	. "$dir/c/cluster.env"
	for u in $MQTT_URIS; do pats+=(-e "mqtt $u: $2"); done
	grep -F "${pats[@]}" "$dir/$1/gateway.log" 2>/dev/null
}

start() {
	[ -x "$WARDGW" ] && [ -x "$SIM" ] || die "$WARDGW or $SIM missing: make all"
	command -v mosquitto_sub >/dev/null || die "mosquitto_sub not found (apt-get install mosquitto-clients)"
	[ ! -e "$dir/c/cluster.env" ] || ! "$HERE/province-cluster.sh" status "$dir/c" >/dev/null 2>&1 ||
		die "a province already runs in $dir (province.sh stop $dir)"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	# a start that fails half-way stops what it had started
	[ "$cmd" = run ] || trap '[ $? = 0 ] || stop > /dev/null 2>&1' EXIT
	local i pw
	: > "$dir/gateways"
	for i in $(seq 1 "$N"); do
		mkdir -p "$dir/gw-$i/data"
		(umask 077; openssl rand -hex 16 > "$dir/gw-$i/password")
		echo "gw-$i $dir/gw-$i/password" >> "$dir/gateways"
	done
	case $WARD in start) WARD_PORT=$((BASE + 98)) ;; none) WARD_PORT="" ;; esac
	# PLINK: the name of each gateway's link to the cluster in status.json's links
	{
		echo "N=$N"; echo "D=$D"; echo "POLL=$POLL"; echo "KPIW=$KPIW"; echo "BASE=$BASE"; echo "HTTP=$HTTP"
		echo "WARD=$WARD"; echo "WARD_PORT=$WARD_PORT"; echo "PLINK=$([ -n "$WARD_PORT" ] && echo province || echo ioc)"
		echo "KEEPALIVE=$KEEPALIVE"
	} > "$dir/province.env"
	"$HERE/province-cluster.sh" start "$dir/c" --base-port "$BASE" --gateways "$dir/gateways" --cost "$COST"
	. "$dir/c/cluster.env"
	# one simulator for every ward: gateway I polls ports BASE+100+(I-1)D ...
	setsid "$SIM" --base-port $((BASE + 100)) --cabinets $((N * D)) --sdm120 0 --dds238 0 \
		--control $((BASE + 99)) --pidfile "$dir/sim.pid" </dev/null > "$dir/sim.log" 2>&1 &
	local end=$((SECONDS + 60))
	until grep -q '^wardgw-sim: ready' "$dir/sim.log" 2>/dev/null; do
		[ $SECONDS -lt $end ] || die "the simulator is not ready (see $dir/sim.log)"
		sleep 0.1
	done
	# the ward broker: one mosquitto for every ward (each gateway has its prefix)
	if [ "$WARD" = start ]; then
		command -v mosquitto >/dev/null || die "mosquitto not found (apt-get install mosquitto), or --no-ward"
		printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n' \
			"$WARD_PORT" > "$dir/ward.conf"
		setsid mosquitto -c "$dir/ward.conf" </dev/null > "$dir/ward.log" 2>&1 &
		echo $! > "$dir/ward.pid"
	fi
	if [ -n "$WARD_PORT" ]; then
		end=$((SECONDS + 10))
		until (exec 3<>"/dev/tcp/127.0.0.1/$WARD_PORT") 2>/dev/null; do
			[ $SECONDS -lt $end ] || die "no ward broker on 127.0.0.1:$WARD_PORT (see $dir/ward.log)"
			sleep 0.1
		done
	fi
	# the reader: a durable session (clean session off, QoS 1) on the last node
	set -- $MQTT_PORTS
	eval "rport=\${$#}"
	echo "$rport" > "$dir/reader.port"
	mosquitto_sub -V mqttv311 -h 127.0.0.1 -p "$rport" -u "$READER_USER" -P "$(cat "$READER_PASSWORD_FILE")" \
		-i province-archive -c -q 1 -t "$PREFIX/#" -E > "$dir/reader.sub" 2>&1 ||
		die "the reader could not subscribe: $(cat "$dir/reader.sub")"
	setsid mosquitto_sub -V mqttv311 -h 127.0.0.1 -p "$rport" -u "$READER_USER" -P "$(cat "$READER_PASSWORD_FILE")" \
		-i province-archive -c -q 1 -t "$PREFIX/#" -v </dev/null > "$dir/reader.txt" 2> "$dir/reader.err" &
	echo $! > "$dir/reader.pid"
	for i in $(seq 1 "$N"); do
		gateway_config "$i" "$dir/gw-$i/gateway.conf"
		"$WARDGW" check -c "$dir/gw-$i/gateway.conf" > "$dir/gw-$i/check.out" 2>&1 ||
			die "gw-$i: $(cat "$dir/gw-$i/check.out")"
		setsid "$WARDGW" run -c "$dir/gw-$i/gateway.conf" </dev/null > "$dir/gw-$i/gateway.log" 2>&1 &
		echo $! > "$dir/gw-$i/pid"
		# a province's gateways do not all start in the same second
		sleep "$STAGGER"
	done
	end=$((SECONDS + 120))
	for i in $(seq 1 "$N"); do
		until cluster_lines "gw-$i" 'connected (session' > /dev/null &&
			{ [ -z "$WARD_PORT" ] || grep -qF "mqtt tcp://127.0.0.1:$WARD_PORT: connected (session" "$dir/gw-$i/gateway.log"; }; do
			[ $SECONDS -lt $end ] || die "gw-$i did not connect in 120 s: $(tail -n 3 "$dir/gw-$i/gateway.log")"
			pid_ok "$dir/gw-$i/pid" wardgw >/dev/null || die "gw-$i exited: $(tail -n 3 "$dir/gw-$i/gateway.log")"
			sleep 0.2
		done
	done
	[ "$cmd" = run ] || trap - EXIT
	echo "province: $N gateways x $D cabinets (poll ${POLL} ms, KPI window $KPIW) on the cluster in $dir/c; reader on 127.0.0.1:$rport$([ -z "$WARD_PORT" ] || echo "; ward broker on 127.0.0.1:$WARD_PORT (prefix ward)")"
	nodes
}

# the node each gateway is on: the last "connected" line of its log to a node
nodes() {
	[ -r "$dir/province.env" ] || die "no province in $dir"
	. "$dir/province.env"
	local i line
	for i in $(seq 1 "$N"); do
		line=$(cluster_lines "gw-$i" 'connected (session' | tail -n 1)
		echo "gw-$i $(printf '%s' "$line" | sed -n 's/.*mqtt \([^ ]*\): connected.*/\1/p')"
	done | awk '{ print; n[$2]++ } END { for (u in n) printf "# %s: %d gateways\n", u, n[u] }'
}

# moves: "gw-I MS URI" for each gateway whose last connect before the kill
# was to kill_uri: MS from the kill to its next connect, URI the node it
# took ("- -" while it has not); exit 1 while one has not moved
moves() {
	[ -r "$dir/province.env" ] || die "no province in $dir"
	. "$dir/province.env"
	local i d t rest ms before after all=0
	for i in $(seq 1 "$N"); do
		before="" after=""
		while read -r d t rest; do
			ms=$(date -d "$d $t" +%s%3N)
			if [ "$ms" -lt "$kill_ms" ]; then
				before=$rest
			elif [ -z "$after" ]; then
				after="$((ms - kill_ms)) $(printf '%s' "$rest" | sed -n 's/.*mqtt \([^ ]*\): connected.*/\1/p')"
			fi
		done < <(cluster_lines "gw-$i" 'connected (session')
		case $before in *"mqtt $kill_uri: connected"*) ;; *) continue ;; esac
		case $after in *" $kill_uri") after="" ;; esac    # back on the same node: not a move
		[ -n "$after" ] || { after="- -"; all=1; }
		echo "gw-$i $after"
	done
	return $all
}

stop() {
	[ -r "$dir/province.env" ] || die "no province in $dir"
	. "$dir/province.env"
	local i
	for i in $(seq 1 "$N"); do
		pid=$(pid_ok "$dir/gw-$i/pid" "$dir/gw-$i/gateway.conf") && kill -TERM "$pid" 2>/dev/null
	done
	for i in $(seq 1 "$N"); do stop_file "$dir/gw-$i/pid" "$dir/gw-$i/gateway.conf"; done
	stop_file "$dir/reader.pid" province-archive
	stop_file "$dir/sim.pid" wardgw-sim
	stop_file "$dir/ward.pid" "$dir/ward.conf"
	"$HERE/province-cluster.sh" stop "$dir/c" || true
	echo "province: stopped in $dir"
}

report() {
	[ -r "$dir/province.env" ] || die "no province in $dir"
	python3 "$HERE/province-report.py" ${JSON:+--json} --wardgw "$WARDGW" "$dir"
}

case $cmd in
start) start ;;
stop) stop ;;
nodes) nodes ;;
moves) moves ;;
report) report ;;
run)
	[ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/province.XXXXXX")
	trap 'echo; stop; report' EXIT
	trap 'exit 130' INT TERM
	start
	echo "province: ^C stops everything and prints what arrived; meanwhile: province.sh report $dir"
	t0=$SECONDS
	while [ "$SECS" = 0 ] || [ $((SECONDS - t0)) -lt "$SECS" ]; do
		sleep 1
		if [ $(( (SECONDS - t0) % EVERY )) = 0 ]; then report || true; fi
	done
	;;
esac
