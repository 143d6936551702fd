#!/usr/bin/env bash
# The HTTP servers (status page, push ingest) under a flood, on loopback:
# connections that trickle a byte a second are closed at the whole-request
# deadline (the inactivity timeout restarted with each byte); one address
# cannot take more than its share while another is still served at once;
# failed logins are counted in /metrics and logged under the limiter; a
# push with a bad token is refused on its headers, its body never read; at
# the open-files limit the accept errors stay inside the log limiter and
# the page answers again when descriptors are free. Prints the log bytes
# written during the flood.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) HP=$(free_port) IP=$(free_port) DEAD=$(free_port)
TOK=0123456789abcdef-page-token ITOK=0123456789abcdef-survey-app
printf '%s\n' "$TOK" > "$T/token"
printf 'survey-app %s\n' "$ITOK" > "$T/tokens"
chmod 600 "$T/token" "$T/tokens"
start_mosquitto "$MQ"
write_config "$T/gw.conf" "$MQ" "
  { name = \"ctrl-ap-01\"; driver = \"push\"; profile = \"wifi-ap\"; poll_interval_ms = 60000; }" "
http = { listen = \"127.0.0.1:$HP\"; token_file = \"$T/token\"; max_connections = 40;
         max_connections_per_address = 16; request_timeout_s = 3; };
ingest = { listen = \"127.0.0.1:$IP\"; token_file = \"$T/tokens\"; max_body_bytes = 100000; };"
start_gateway "$T/gw.conf"
wait_until 20 port_busy "$HP" || fail "status page not listening"
wait_until 20 port_busy "$IP" || fail "ingest not listening"

cat > "$T/flood.py" <<'EOP'
import socket, sys, time
port, n, secs, src = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
socks = []
for i in range(n):
    s = socket.socket(); s.bind((src, 0)); s.connect(("127.0.0.1", port)); s.setblocking(False)
    socks.append([s, None])
t0 = time.time(); sent = 0
pieces = [b"GET / HTTP/1.1\r\n"] + [b"X-A: b\r\n"] * 1000
k = 0
while time.time() - t0 < secs and any(c is None for _, c in socks):
    for e in socks:
        if e[1] is not None: continue
        try:
            d = e[0].recv(4096)
            if not d: e[1] = time.time() - t0      # closed by the server
        except BlockingIOError: pass
        except OSError: e[1] = time.time() - t0
        if e[1] is None:
            try: e[0].send(pieces[min(k, len(pieces) - 1)])
            except OSError: e[1] = time.time() - t0
    k += 1
    time.sleep(1)
closed = sorted(c for _, c in socks if c is not None)
print(len(closed), " ".join("%.1f" % c for c in closed))
EOP

# 1. 20 connections from 127.0.0.1 trickling a header line a second for 8 s
python3 "$T/flood.py" "$HP" 20 8 127.0.0.1 > "$T/trickle.txt" &
FLOOD=$!
# meanwhile another address is served at once
wait_until 5 grep -q 'connection from 127.0.0.1 refused' "$T/gateway.log" || fail "the 17th connection from one address was not refused"
t=$(curl -s -o /dev/null -w '%{time_total}' --interface 127.0.0.2 --max-time 2 "http://127.0.0.1:$HP/healthz") \
	|| fail "a client from 127.0.0.2 was not served during the flood"
wait "$FLOOD"
read -r nclosed times < "$T/trickle.txt"
[ "$nclosed" = 20 ] || fail "$nclosed of 20 trickling connections closed by the gateway in 8 s ($times)"
early=$(echo "$times" | tr ' ' '\n' | awk '$1 < 1.5' | wc -l)
late=$(echo "$times" | tr ' ' '\n' | awk '$1 >= 2.5 && $1 <= 5.5' | wc -l)
[ "$early" = 4 ] && [ "$late" = 16 ] || fail "closed at (s): $times; want 4 at once (over 16 per address; seen within the client's 1 s step) and 16 at the 3 s deadline"
ok "20 trickling connections: 4 refused at once, 16 closed at the 3 s deadline though a byte came every second; 127.0.0.2 served in ${t} s meanwhile"

# 2. failed logins: counted, logged under the limiter (10 per minute per text)
for i in $(seq 30); do curl -s -o /dev/null -H "Authorization: Bearer wrong-$i" "http://127.0.0.1:$HP/metrics"; done
m=$(curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$HP/metrics")
n=$(echo "$m" | awk '$1 == "wardgw_http_auth_failures_total{server=\"page\"}" { print $2 }')
[ "$n" = 30 ] || fail "wardgw_http_auth_failures_total{server=\"page\"} is '$n' after 30 failed logins"
echo "$m" | grep -q '^wardgw_http_request_timeouts_total{server="page"} 16$' || fail "timeouts metric: $(echo "$m" | grep timeouts)"
echo "$m" | grep -q '^wardgw_http_connections_refused_total{server="page"} 4$' || fail "refused metric: $(echo "$m" | grep refused)"
lines=$(grep -c 'http: failed login from 127.0.0.1' "$T/gateway.log")
[ "$lines" -ge 1 ] && [ "$lines" -le 10 ] || fail "$lines log lines for 30 failed logins"
ok "30 failed logins: metric 30, $lines log lines (limiter); timeouts 16 and refusals 4 in /metrics"

# 3. a push with a wrong token is refused on its headers: 100 kB announced, none sent
r=$(python3 - "$IP" <<'EOP'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.settimeout(2)
s.send(b"POST /v1/readings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer not-the-token\r\n"
       b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
t0 = time.time()
try: d = s.recv(4096)
except socket.timeout: d = b""
print("%.2f %s" % (time.time() - t0, d.split(b"\r\n")[0].decode()))
EOP
)
case "$r" in *"401 Unauthorized"*) ;; *) fail "a push announcing a body with a wrong token: '$r' (want 401 before the body)";; esac
ok "a push with a wrong token and 100 kB announced: '${r#* }' after ${r%% *} s, body never sent"

# 4. the open-files limit: accept() fails; the errors stay inside the limiter
nfd=$(ls "/proc/$GW_PID/fd" | wc -l)
soft=$(prlimit --pid "$GW_PID" --nofile --noheadings --raw -o SOFT)
prlimit --pid "$GW_PID" --nofile=$((nfd + 8)): || fail "prlimit"
b0=$(stat -c %s "$T/gateway.log")
python3 - "$HP" <<'EOP' &
import socket, sys, time
socks, t0 = [], time.time()
while time.time() - t0 < 5:
    try:
        s = socket.socket(); s.setblocking(False); s.connect_ex(("127.0.0.1", int(sys.argv[1]))); socks.append(s)
    except OSError: break
    if len(socks) >= 200: time.sleep(0.05)
time.sleep(max(0, 5 - (time.time() - t0)))
EOP
FLOOD=$!
wait_until 5 grep -q 'http: cannot accept connections: Too many open files' "$T/gateway.log" || fail "no accept error at the open-files limit"
wait "$FLOOD"
b1=$(stat -c %s "$T/gateway.log")
bytes=$((b1 - b0))
echo "   log bytes during the 5 s connection flood at the open-files limit: $bytes"
[ "$bytes" -le 20000 ] || fail "$bytes log bytes in 5 s of flood"
prlimit --pid "$GW_PID" --nofile="$soft":
wait_until 10 curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$HP/healthz" || fail "the page does not answer after the flood"
ok "open-files limit: $(grep -c 'cannot accept connections' "$T/gateway.log") accept-error lines, $bytes log bytes in 5 s; the page answers after"
