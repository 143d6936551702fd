#!/usr/bin/env bash
# wardgw-test: serial (a mount namespace, UDP port 53, and it times the loop)
# A Modbus TCP device by host name, and a DNS server that never answers:
# the name is resolved on the loop (evdns), so the other devices keep their
# slots and the loop never stalls; the named device is offline with
# "cannot resolve NAME". getaddrinfo on the loop blocked it for as long as
# the server took not to answer, at every retry. The gateway runs in a
# mount namespace (unshare -m) whose /etc/resolv.conf names a silent
# server on a loopback address.
[ "$(id -u)" = 0 ] || { echo "   skipped: needs root (port 53, unshare -m)"; exit 0; }
. "$(dirname "$0")/lib.sh"
unshare -m --propagation private true 2>/dev/null || { echo "   skipped: unshare -m not permitted here"; exit 0; }

NS=127.83.$((RANDOM % 200 + 1)).53
python3 - "$NS" > "$T/dns.log" 2>&1 <<'EOP' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 53))
print("ready", flush=True)
n = 0
while True:
    s.recvfrom(512); n += 1      # never answers
    print("query", n, flush=True)
EOP
PIDS="$PIDS $!"
wait_until 10 grep -q ready "$T/dns.log" || fail "silent DNS server not ready: $(cat "$T/dns.log")"
printf 'nameserver %s\noptions timeout:2 attempts:1\n' "$NS" > "$T/resolv.conf"

MQ=$(free_port) BASE=$(free_port)
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 1 --sdm120 0 --dds238 0
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab-001\"; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; poll_interval_ms = 500; },
  { name = \"far\"; host = \"meter.ward-test.example\"; port = 502; profile = \"sdm120\"; poll_interval_ms = 1000;
    timeout_ms = 300; backoff_max_ms = 1000; }"
unshare -m --propagation private sh -c 'mount --bind "$1" /etc/resolv.conf && exec "$2" run -c "$3" --run-secs 10' \
	sh "$T/resolv.conf" "$WARDGW" "$T/gw.conf" > "$T/gateway.log" 2>&1 &
GW_PID=$!
PIDS="$PIDS $GW_PID"
wait_until 20 grep -q '^query' "$T/dns.log" || fail "no query reached the silent DNS server"
wait "$GW_PID"
reason=$(jq -r '.devices[] | select(.name == "far") | .reason' "$T/data/status.json")
case "$reason" in "cannot resolve meter.ward-test.example: "*) ;; *) fail "the named device's reason: '$reason'";; esac
lag=$(jq '.loop.lag_max_ms' "$T/data/status.json")
n=$(sample_count "$T/gw.conf" cab-001 lampsOn)
echo "   loop lag max $lag ms; cab-001 $n samples in 10 s at 500 ms; $(grep -c '^query' "$T/dns.log") DNS queries unanswered"
awk -v l="$lag" 'BEGIN { exit !(l < 500) }' || fail "the loop stalled $lag ms while a name was resolved"
[ "$n" -ge 16 ] || fail "cab-001 has $n samples in 10 s at 500 ms"
grep -q '^\[' "$T/gateway.log" && fail "libevent wrote to stderr past the log module: $(grep '^\[' "$T/gateway.log" | head -2)"
ok "a name whose DNS server never answers: far: $reason; loop lag max $lag ms, cab-001 polled on"
