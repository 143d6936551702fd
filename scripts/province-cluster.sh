#!/usr/bin/env bash
# A province's broker on one machine, for tests and demos: a cluster of
# nats-server nodes (JetStream + MQTT 3.1.1) on loopback ports, with the
# per-gateway rights of scripts/province-rights.sh (docs/province.md).
#
# Usage: province-cluster.sh start  DIR [--nodes 3] [--base-port P]
#                                       [--gateways FILE] [--prefix P] [--plain] [--cost N]
#        province-cluster.sh stop   DIR
#        province-cluster.sh status DIR
#        province-cluster.sh kill   DIR I     (SIGKILL node I: a crash)
#        province-cluster.sh restart DIR I    (start node I again, wait for /healthz)
#
# start writes DIR/n1..nN/ (config, log, PID file, JetStream store) and
# DIR/cluster.env (ports, MQTT URIs, the reader's and commander's users and
# password files), starts the nodes and returns once every node answers
# /healthz and the JetStream meta leader is elected (or fails after 60 s).
# Node i (1..N) listens on 127.0.0.1: P+10(i-1) NATS clients, +1 cluster
# routes, +2 MQTT, +3 HTTP monitoring. P defaults to 14220.
# With --gateways FILE (see province-rights.sh) each gateway gets its rights,
# a reader user "province" may read everything and a commander user "ioc"
# may publish commands; their passwords are made up and written to
# DIR/reader.password and DIR/commander.password. Without it anyone may
# connect and do anything (a demo only; the script says so).
# stop sends SIGTERM to the PIDs in DIR/n*/nats.pid (after checking that
# each is this cluster's nats-server), then SIGKILL after 10 s.
# status prints each node and exits 0 when all are up, 3 otherwise.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
die() { echo "province-cluster: $*" >&2; exit 1; }
usage() { sed -n '5,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 2 ] || usage
cmd=$1 dir=$2
shift 2
nodes=3 base=14220 gateways="" prefix=province plain="" cost="" node=""
case $cmd in
kill|restart)
	[ $# -ge 1 ] || die "$cmd needs a node number"
	node=$1; shift
	printf '%s' "$node" | grep -Eq '^[1-9]$' || die "node must be 1..9 (got '$node')" ;;
esac
while [ $# -gt 0 ]; do
	case $1 in
	--cost) [ $# -ge 2 ] || die "--cost needs a value"; cost="--cost $2"; shift 2 ;;
	--nodes) [ $# -ge 2 ] || die "--nodes needs a value"; nodes=$2; shift 2 ;;
	--base-port) [ $# -ge 2 ] || die "--base-port needs a value"; base=$2; shift 2 ;;
	--gateways) [ $# -ge 2 ] || die "--gateways needs a file"; gateways=$2; shift 2 ;;
	--prefix) [ $# -ge 2 ] || die "--prefix needs a value"; prefix=$2; shift 2 ;;
	--plain) plain=--plain; shift ;;
	*) die "unknown argument '$1'" ;;
	esac
done
printf '%s' "$nodes" | grep -Eq '^[0-9]+$' && [ "$nodes" -ge 1 ] && [ "$nodes" -le 9 ] ||
	die "--nodes must be 1..9 (got '$nodes'); a cluster that survives a node loss needs 3"
printf '%s' "$base" | grep -Eq '^[0-9]+$' && [ "$base" -ge 1024 ] && [ $((base + 10 * nodes)) -le 65535 ] ||
	die "--base-port must be 1024..$((65535 - 10 * nodes)) (got '$base')"

busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_of I: the PID of node I when it is this cluster's running nats-server
pid_of() {
	local f="$dir/n$1/nats.pid" pid=""
	[ -r "$f" ] || return 1
	read -r pid < "$f" || [ -n "$pid" ] || return 1   # no newline at its end
	printf '%s' "$pid" | grep -Eq '^[0-9]+$' || return 1
	{ tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -q "nats-server.*$dir/n$1/nats.conf" || return 1
	echo "$pid"
}

# Node ports come from the env file written at start, so stop and status
# need no options.
load_env() {
	[ -r "$dir/cluster.env" ] || die "$dir/cluster.env not found: no cluster was started in $dir"
	# shellcheck disable=SC1091
	. "$dir/cluster.env"
	nodes=$NODES
}

healthy() {
	local hp=$1
	curl -sf --max-time 2 "http://127.0.0.1:$hp/healthz" 2>/dev/null | grep -q '"ok"'
}

meta_leader() {
	curl -sf --max-time 2 "http://127.0.0.1:$1/jsz" 2>/dev/null |
		sed -n 's/.*"leader": *"\([^"]*\)".*/\1/p' | head -n 1
}

# a start that fails half-way leaves no node running
fail_start() {
	stop > /dev/null 2>&1 || true
	die "$*; the nodes that had started were stopped"
}

start() {
	command -v nats-server >/dev/null 2>&1 || die "nats-server not found (apt-get install nats-server, or scripts/install-deps.sh)"
	command -v curl >/dev/null 2>&1 || die "curl not found"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	for i in $(seq 1 "$nodes"); do
		if pid_of "$i" >/dev/null; then die "node $i of $dir is already running (stop it first)"; fi
	done
	local i p q routes="" auth="" cluster=""
	for i in $(seq 1 "$nodes"); do
		p=$((base + 10 * (i - 1)))
		for q in $p $((p + 1)) $((p + 2)) $((p + 3)); do
			busy $q && die "port $q on 127.0.0.1 is in use (choose another --base-port)"
		done
		routes="$routes nats-route://127.0.0.1:$((p + 1))"
	done
	if [ -n "$gateways" ]; then
		(umask 077
		 [ -s "$dir/reader.password" ] || openssl rand -hex 16 > "$dir/reader.password"
		 [ -s "$dir/commander.password" ] || openssl rand -hex 16 > "$dir/commander.password")
		"$HERE/province-rights.sh" --prefix "$prefix" $plain $cost --reader province "$dir/reader.password" \
			--commander ioc "$dir/commander.password" "$gateways" "$dir/auth.conf"
		auth="include \"auth.conf\""
	else
		echo "province-cluster: no --gateways: anyone may connect and publish anything (a demo only)" >&2
		rm -f "$dir/auth.conf"
	fi
	# Replicas: 3 when there are 3 nodes or more, so a node may be lost.
	local replicas=$((nodes >= 3 ? 3 : 1))
	for i in $(seq 1 "$nodes"); do
		p=$((base + 10 * (i - 1)))
		mkdir -p "$dir/n$i/js"
		# one node: standalone JetStream (a cluster block of one waits for
		# routes forever and refuses MQTT clients)
		cluster=""
		[ "$nodes" -gt 1 ] && cluster="cluster {
  name: \"province\"
  listen: \"127.0.0.1:$((p + 1))\"
  routes: [$(echo $routes | sed 's/ /, /g')]
}"
		cat > "$dir/n$i/nats.conf" <<EOC
# node $i of the province cluster in $dir (scripts/province-cluster.sh)
server_name: "n$i"
listen: "127.0.0.1:$p"
http: "127.0.0.1:$((p + 3))"
jetstream {
  store_dir: "$dir/n$i/js"
  max_memory_store: 64MB
  max_file_store: 2GB
}
$cluster
mqtt {
  listen: "127.0.0.1:$((p + 2))"
  # QoS 1 messages not acknowledged by a subscriber are sent again after
  # ack_wait; sessions, retained messages and QoS 1 messages are in
  # JetStream streams with this many replicas.
  ack_wait: "30s"
  max_ack_pending: 1024
  stream_replicas: $replicas
}
$auth
EOC
		if [ -n "$auth" ]; then
			ln -sf ../auth.conf "$dir/n$i/auth.conf"
		fi
		nats-server -t -c "$dir/n$i/nats.conf" >/dev/null 2>"$dir/n$i/check.err" ||
			die "node $i: config refused: $(cat "$dir/n$i/check.err")"
		rm -f "$dir/n$i/check.err" "$dir/n$i/nats.pid"
	done
	{
		echo "# written by scripts/province-cluster.sh start"
		echo "NODES=$nodes"
		echo "BASE_PORT=$base"
		echo "PREFIX=$prefix"
		local c="" m="" h="" u=""
		for i in $(seq 1 "$nodes"); do
			p=$((base + 10 * (i - 1)))
			c="$c $p" m="$m $((p + 2))" h="$h $((p + 3))" u="$u tcp://127.0.0.1:$((p + 2))"
		done
		echo "CLIENT_PORTS=\"${c# }\""
		echo "MQTT_PORTS=\"${m# }\""
		echo "HTTP_PORTS=\"${h# }\""
		echo "MQTT_URIS=\"${u# }\""
		if [ -n "$auth" ]; then
			echo "READER_USER=province"
			echo "READER_PASSWORD_FILE=$dir/reader.password"
			echo "COMMANDER_USER=ioc"
			echo "COMMANDER_PASSWORD_FILE=$dir/commander.password"
		fi
	} > "$dir/cluster.env"
	for i in $(seq 1 "$nodes"); do
		start_node "$i"
	done
	local end=$((SECONDS + 60)) ok leader
	while :; do
		ok=1
		for i in $(seq 1 "$nodes"); do
			p=$((base + 10 * (i - 1)))
			if ! pid_of "$i" >/dev/null && [ $SECONDS -gt $((end - 55)) ]; then
				fail_start "node $i did not start; $dir/n$i/nats.log says: $(tail -n 3 "$dir/n$i/nats.log" 2>/dev/null)"
			fi
			healthy $((p + 3)) && busy $((p + 2)) || ok=0
		done
		leader=$(meta_leader $((base + 3)))
		[ "$nodes" = 1 ] && leader="n1 (standalone)"
		[ $ok = 1 ] && [ -n "$leader" ] && break
		[ $SECONDS -lt $end ] || fail_start "the cluster in $dir is not ready after 60 s (see $dir/n*/nats.log)"
		sleep 0.2
	done
	echo "province-cluster: $nodes nodes up in $dir, JetStream meta leader $leader; MQTT on$(. "$dir/cluster.env"; for q in $MQTT_PORTS; do printf ' 127.0.0.1:%s' "$q"; done)"
}

start_node() {
	# setsid: the nodes outlive this script and a ^C in its terminal
	setsid nats-server -c "$dir/n$1/nats.conf" -P "$dir/n$1/nats.pid" -l "$dir/n$1/nats.log" \
		</dev/null >/dev/null 2>&1 &
}

# kill I: SIGKILL node I, as a crash or a power cut would stop it (its
# clients see the connection reset); prints the time (ms) it was sent
kill_node() {
	load_env
	[ "$node" -le "$nodes" ] || die "no node $node in $dir ($nodes nodes)"
	local pid
	pid=$(pid_of "$node") || die "node $node of $dir is not running"
	date +%s%3N
	kill -KILL "$pid"
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
	die "node $node (PID $pid) did not die"
}

routes() {
	curl -sf --max-time 2 "http://127.0.0.1:$1/routez" 2>/dev/null | sed -n 's/.*"num_routes": *\([0-9]*\).*/\1/p' | head -n 1
}

# restart I: start node I again with its config and store, and wait until
# it takes MQTT clients and is routed to the other nodes (60 s at most).
# Its /healthz may say "not current" for a while longer: JetStream catches
# up with what it missed (the line says so).
restart_node() {
	load_env
	[ "$node" -le "$nodes" ] || die "no node $node in $dir ($nodes nodes)"
	pid_of "$node" >/dev/null && die "node $node of $dir is already running"
	local p=$((BASE_PORT + 10 * (node - 1))) end=$((SECONDS + 60)) r
	rm -f "$dir/n$node/nats.pid"
	start_node "$node"
	until pid_of "$node" >/dev/null && busy $((p + 2)) && r=$(routes $((p + 3))) && [ "${r:-0}" -ge $((nodes - 1)) ]; do
		[ $SECONDS -lt $end ] || die "node $node did not come back in 60 s (see $dir/n$node/nats.log)"
		sleep 0.1
	done
	echo "province-cluster: node $node up again (pid $(pid_of "$node")), routed to $r nodes; /healthz: $(healthy $((p + 3)) && echo ok || echo 'not yet current')"
}

stop() {
	load_env
	local i pid pids=""
	for i in $(seq 1 "$nodes"); do
		if pid=$(pid_of "$i"); then
			kill -TERM "$pid" 2>/dev/null || true
			pids="$pids $pid"
		fi
	done
	for pid in $pids; do
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			echo "province-cluster: PID $pid did not stop in 10 s; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	echo "province-cluster: stopped$([ -n "$pids" ] && echo " PIDs$pids" || echo ": nothing was running") in $dir"
}

status() {
	load_env
	local i p pid all=1 leader=""
	for i in $(seq 1 "$nodes"); do
		p=$((BASE_PORT + 10 * (i - 1)))
		if pid=$(pid_of "$i"); then
			if healthy $((p + 3)); then
				echo "n$i  up    pid $pid  nats 127.0.0.1:$p  mqtt 127.0.0.1:$((p + 2))  http 127.0.0.1:$((p + 3))"
				[ -n "$leader" ] || leader=$(meta_leader $((p + 3)))
			else
				echo "n$i  sick  pid $pid  (/healthz on 127.0.0.1:$((p + 3)) does not answer ok)"
				all=0
			fi
		else
			echo "n$i  down"
			all=0
		fi
	done
	echo "JetStream meta leader: ${leader:-none}"
	[ $all = 1 ] || exit 3
}

case $cmd in
start) start ;;
stop) stop ;;
status) status ;;
kill) kill_node ;;
restart) restart_node ;;
*) usage ;;
esac
