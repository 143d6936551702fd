#!/usr/bin/env bash
# The province's broker: a 3-node nats-server cluster (JetStream + MQTT)
# started by scripts/province-cluster.sh with the rights of two gateways
# (scripts/province-rights.sh), a real wardgw (gw-a) on node 1, mosquitto
# clients (MQTT 3.1.1) on the other nodes, and a provincial reader with a
# persistent session on node 2:
#  (a) gw-a's telemetry, retained status and command answers reach the reader,
#      also what was published while the reader was away;
#  (b) a publish with gw-a's credentials outside gw-a's prefix (under gw-b's,
#      or on its own command topic) never reaches the reader: nats PUBACKs and
#      drops it, so the reader first waits for a marker published after it;
#  (c) gw-a cannot subscribe to gw-b's command topic, nor to everything;
#      gw-b's ward IOC user reads gw-b's topics only;
#  (d) wrong credentials are refused, to the clients and to the gateway;
#  (e) a command signed with the shared key but for gw-b, published on gw-a's
#      topic by the IOC user, is refused by gw-a ("wrong gateway").
. "$(dirname "$0")/lib.sh"

command -v nats-server > /dev/null || fail "nats-server not installed (scripts/install-deps.sh)"
PD="$T/province"
BASE=$(free_port 30) || fail "no free port range"
province_cleanup() {
	"$ROOT/scripts/province-cluster.sh" stop "$PD" > /dev/null 2>&1
	cleanup
}
trap province_cleanup EXIT

# the generator refuses a bad list, saying where
rights_refuses() { # 'LIST' 'message'
	printf '%b' "$1" > "$T/bad-gateways"
	if "$ROOT/scripts/province-rights.sh" --plain "$T/bad-gateways" > "$T/rights.out" 2>&1; then
		fail "province-rights.sh took: $1"
	fi
	grep -qF -- "$2" "$T/rights.out" || fail "province-rights.sh on '$1': $(cat "$T/rights.out")"
}
rights_refuses 'gw-a password-0123456\ngw.b password-0123456\n' "bad-gateways:2: gateway id 'gw.b' must be"
rights_refuses 'gw-a password-0123456\ngw-a password-6543210\n' "bad-gateways:2: user 'gw-a' is listed twice"
rights_refuses 'gw-a password-0123456 password-ioc-0000\ngw-a-ioc password-6543210\n' "bad-gateways:2: user 'gw-a-ioc' is listed twice"
rights_refuses '# none\n\ngw-a short\n' "bad-gateways:3: password must be at least 12 characters"
rights_refuses 'gw-a\n' "bad-gateways:1: expected 'ID SECRET [IOC_SECRET]'"
rights_refuses '# nothing\n' "no gateways listed"
ok "province-rights.sh refuses a '.' in an id, a duplicate, a short password, a missing field, an empty list (file:line)"

# two gateways: gw-a's password in a file (as its wardgw reads it), gw-b's inline
(umask 077; openssl rand -hex 16 > "$T/gw-a.password")
# gw-b's ward IOC has a user of its own (gw-b-ioc)
printf '# id   password (file or text)  [ward IOC password]\ngw-a  %s\ngw-b  gw-b-secret-0123456  gw-b-ioc-secret-0123\n' \
	"$T/gw-a.password" > "$T/gateways"
"$ROOT/scripts/province-cluster.sh" start "$PD" --nodes 3 --base-port "$BASE" --gateways "$T/gateways" \
	> "$T/cluster.out" 2>&1 || fail "cluster did not start: $(cat "$T/cluster.out")"
for i in 1 2 3; do
	ln -s "$PD/n$i/nats.log" "$T/nats-n$i.log"
	PIDS="$PIDS $(cat "$PD/n$i/nats.pid")"
done
"$ROOT/scripts/province-cluster.sh" status "$PD" > "$T/status.out" || fail "status: $(cat "$T/status.out")"
. "$PD/cluster.env"
set -- $MQTT_PORTS
M1=$1 M2=$2 M3=$3
[ "$(stat -c %a "$PD/auth.conf")" = 600 ] || fail "auth.conf is not mode 600"
grep -q 'password: "\$2b\$' "$PD/auth.conf" || fail "passwords are not bcrypt-hashed in auth.conf"
! grep -q "gw-b-secret-0123456\|$(cat "$T/gw-a.password")" "$PD/auth.conf" || fail "a password in clear in auth.conf"
ok "3 nodes up ($(grep -o 'meta leader [^;]*' "$T/cluster.out")), MQTT on $M1 $M2 $M3; passwords bcrypt-hashed"

APW=$(cat "$T/gw-a.password") RPW=$(cat "$READER_PASSWORD_FILE") CPW=$(cat "$COMMANDER_PASSWORD_FILE")
mpub() { mosquitto_pub -V mqttv311 -h 127.0.0.1 -q 1 "$@"; }
msub() { mosquitto_sub -V mqttv311 -h 127.0.0.1 -q 1 "$@"; }

# the reader's persistent session, made now: it keeps what arrives while
# the reader is away (-E: exit once the broker acknowledged the subscription)
msub -p "$M2" -u "$READER_USER" -P "$RPW" -i province-reader -c -t 'province/#' -E > "$T/reader-session.out" 2>&1 ||
	fail "reader subscription: $(cat "$T/reader-session.out")"
ok "reader 'province' has a persistent session on node 2 with province/# (QoS 1)"

# (d) wrong credentials
for creds in "gw-a wrong-password-0000" "gw-a gw-b-secret-0123456" "nobody $APW"; do
	set -- $creds
	if mpub -p "$M1" -u "$1" -P "$2" -t province/gw-a/probe -m x > "$T/badcred.out" 2>&1; then
		fail "user $1 with a wrong password could publish"
	fi
	grep -q "not authori[sz]ed" "$T/badcred.out" || fail "no 'not authorised' for $1: $(cat "$T/badcred.out")"
done
if mpub -p "$M1" -t province/gw-a/probe -m x > "$T/badcred.out" 2>&1; then
	fail "a client without credentials could publish"
fi
grep -q "not authori[sz]ed" "$T/badcred.out" || fail "no 'not authorised' without credentials: $(cat "$T/badcred.out")"
ok "(d) wrong password, gw-b's password for gw-a, an unknown user, no credentials: connection refused (not authorised)"

# the gateway, on node 1, with a lighting schedule and signed commands
BASE_DEV=$(free_port 2) SIM_CTL=$(free_port)
start_sim --base-port "$BASE_DEV" --cabinets 2 --sdm120 0 --dds238 0 --obey --control "$SIM_CTL"
KEY="$T/lighting.key"
(umask 077; openssl rand -hex 32 > "$KEY")
gwconf() { # FILE PASSWORD_FILE
	cat > "$1" <<EOC
gateway = { id = "gw-a"; ward = "ward A"; lat = 11.837; lon = 106.993; data_dir = "$T/data"; };
log = { level = "info"; };
store = { path = "wardgw.db"; batch_ms = 100; };
mqtt = { uri = "tcp://127.0.0.1:$M1"; topic_prefix = "province"; username = "gw-a"; password_file = "$2";
         keepalive = 5; allow_plaintext_password = true; };  # loopback only
profiles_dir = "$ROOT/config/profiles";
device_defaults = { poll_interval_ms = 1000; timeout_ms = 300; backoff_max_ms = 2000; };
devices = ( { name = "cab"; count = 2; profile = "lighting-cabinet"; host = "127.0.0.1"; port = $BASE_DEV; } );
lighting = {
  programs = ( { name = "steady"; points = ( { at = "12:00"; level = 40; } ); } );
  calendar = ( { program = "steady"; } );
  commands = { key_file = "$KEY"; window_s = 120; };
};
EOC
}
# (d) the gateway with a wrong password: refused, said in its log
(umask 077; echo "not-the-password-0000" > "$T/wrong.password")
gwconf "$T/gw-wrong.conf" "$T/wrong.password"
start_gateway "$T/gw-wrong.conf"
wait_until 20 grep -q "mqtt tcp://127.0.0.1:$M1: cannot connect: refused by the broker: not authorised" "$T/gateway.log" ||
	fail "the gateway with a wrong password: no refusal in its log"
grep -q "connected (session" "$T/gateway.log" && fail "the gateway connected with a wrong password"
ok "(d) wardgw with a wrong password: $(grep -o 'cannot connect: [^(]*' "$T/gateway.log" | head -1)"
stop_pid "$GW_PID"
mv "$T/gateway.log" "$T/gateway-wrong.txt"
rm -rf "$T/data"

gwconf "$T/gw.conf" "$T/gw-a.password"
"$WARDGW" check -c "$T/gw.conf" > "$T/check.out" 2>&1 || fail "check: $(cat "$T/check.out")"
start_gateway "$T/gw.conf"
wait_until 20 grep -q "mqtt tcp://127.0.0.1:$M1: connected (session" "$T/gateway.log" || fail "gateway did not connect to node 1"
ok "wardgw gw-a connected to node 1 as user gw-a (MQTT 3.1.1, QoS 1, persistent session)"

# (b) publishes outside gw-a's prefix, each PUBACKed and dropped, then a
# marker inside it; all while the reader is away
mpub -p "$M3" -u gw-a -P "$APW" -t province/gw-b/telemetry/cab-001 -m forbidden-other-prefix || fail "publish (b1) failed"
mpub -p "$M3" -u gw-a -P "$APW" -t province/gw-a/cmd/lighting -m forbidden-own-cmd || fail "publish (b2) failed"
mpub -p "$M3" -u gw-a -P "$APW" -t province/elsewhere -m forbidden-outside || fail "publish (b3) failed"
mpub -p "$M3" -u gw-a -P "$APW" -t province/gw-a/test/marker -m marker-1 || fail "marker publish failed"
mpub -p "$M3" -u gw-b -P gw-b-secret-0123456 -t province/gw-b/test/marker -m marker-b || fail "gw-b marker publish failed"
grep -q 'Publish Violation - User "gw-a", Subject "province.gw-b.telemetry.cab-001"' "$T/nats-n3.log" ||
	fail "node 3 did not log the publish violation"

# (c) gw-a subscribing where it may not: SUBACK 0x80
for topic in province/gw-b/cmd/lighting 'province/#' 'province/gw-b/#' '$MQTT/sub/#'; do
	msub -p "$M3" -u gw-a -P "$APW" -i probe-a -t "$topic" -E > "$T/sub-denied.out" 2>&1
	grep -q "All subscription requests were denied" "$T/sub-denied.out" ||
		fail "gw-a could subscribe to $topic: $(cat "$T/sub-denied.out")"
done
msub -p "$M3" -u gw-a -P "$APW" -i probe-a -t province/gw-a/cmd/lighting -E > "$T/sub-own.out" 2>&1 ||
	fail "gw-a cannot subscribe to its own command topic: $(cat "$T/sub-own.out")"
ok "(c) gw-a: gw-b's command topic, province/#, province/gw-b/#, \$MQTT/sub/# refused (SUBACK 0x80); its own command topic granted"
# gw-b's ward IOC reads its own ward only
for topic in 'province/gw-a/#' 'province/#' 'province/+/status'; do
	msub -p "$M1" -u gw-b-ioc -P gw-b-ioc-secret-0123 -i probe-b-ioc -t "$topic" -E > "$T/sub-denied.out" 2>&1
	grep -q "All subscription requests were denied" "$T/sub-denied.out" ||
		fail "gw-b-ioc could subscribe to $topic: $(cat "$T/sub-denied.out")"
done
msub -p "$M1" -u gw-b-ioc -P gw-b-ioc-secret-0123 -i ward-ioc-b -t 'province/gw-b/#' -E > "$T/sub-own.out" 2>&1 ||
	fail "gw-b-ioc cannot subscribe to its ward: $(cat "$T/sub-own.out")"
ok "(c) gw-b's ward IOC: province/gw-b/# granted; province/gw-a/#, province/#, province/+/status refused"

# (e) the IOC user sends gw-a a command signed with the shared key but for
# gw-b, then one for gw-a
sign() {
	local sig
	sig=$(printf '%s' "$1" | openssl dgst -sha256 -hmac "$(cat "$KEY")" -r | cut -d' ' -f1)
	jq -cn --arg b "$1" --arg h "$sig" '{body: $b, hmac: $h}'
}
now=$(date +%s)
mpub -p "$M2" -u "$COMMANDER_USER" -P "$CPW" -t province/gw-a/cmd/lighting \
	-m "$(sign "{\"id\":\"prov-1\",\"gateway\":\"gw-b\",\"ts\":$now,\"action\":\"off\",\"target\":{\"ward\":true}}")" ||
	fail "the IOC user cannot publish a command"
mpub -p "$M2" -u "$COMMANDER_USER" -P "$CPW" -t province/gw-a/cmd/lighting \
	-m "$(sign "{\"id\":\"prov-2\",\"gateway\":\"gw-a\",\"ts\":$now,\"action\":\"dim\",\"level\":60,\"target\":{\"ward\":true},\"expires\":$((now + 120))}")" ||
	fail "the IOC user cannot publish a command"
wait_until 15 grep -q 'command prov-2 accepted' "$T/gateway.log" || fail "gw-a did not take its command prov-2 through the cluster"
grep -q "command prov-1 rejected: wrong gateway: the command is for gateway 'gw-b', this is 'gw-a'" "$T/gateway.log" ||
	fail "gw-a did not refuse prov-1 (for gw-b)"
ok "(e) through the cluster: prov-1 (signed for gw-b) refused by gw-a as wrong gateway; prov-2 (for gw-a) accepted"

# gw-a's telemetry, published while the reader was away: wait until some is
# in the reader's session, then read the session
msub -p "$M2" -u "$READER_USER" -P "$RPW" -i province-reader -c -t 'province/#' -v > "$T/reader.txt" 2> "$T/reader.err" &
READER_PID=$!
PIDS="$PIDS $READER_PID"
got() { grep -q "$1" "$T/reader.txt"; }
wait_until 20 got '^province/gw-a/test/marker marker-1$' || fail "(a) the marker did not reach the reader: $(head -c 600 "$T/reader.txt")"
wait_until 10 got '^province/gw-b/test/marker marker-b$' || fail "gw-b's marker did not reach the reader"
wait_until 10 got '^province/gw-a/telemetry/cab-001 ' || fail "(a) no telemetry of cab-001 at the reader"
wait_until 10 got '^province/gw-a/telemetry/cab-002 ' || fail "(a) no telemetry of cab-002 at the reader"
wait_until 10 got '^province/gw-a/status {"state":"online"' || fail "(a) no retained online status at the reader"
wait_until 15 got '^province/gw-a/cmd-result/lighting {"id":"prov-1","state":"rejected","reason":"wrong gateway' ||
	fail "(a) the rejection of prov-1 did not reach the reader"
wait_until 15 got '^province/gw-a/cmd-result/lighting {"id":"prov-2","state":"accepted"' ||
	fail "(a) the acceptance of prov-2 did not reach the reader"
ok "(a) at the reader (persistent session, node 2): gw-a's telemetry, retained status and command answers, and the markers sent while it was away"

# (b) the markers were published after the forbidden messages and are here:
# the forbidden ones would be too, had the cluster taken them
! grep -q 'forbidden' "$T/reader.txt" || fail "(b) a forbidden publish reached the reader: $(grep forbidden "$T/reader.txt")"
ok "(b) publishes with gw-a's credentials under gw-b's prefix, on its own command topic, or outside province/ never arrived"

# the reader's session lived on: what arrives later still comes
mpub -p "$M1" -u gw-b -P gw-b-secret-0123456 -t province/gw-b/test/marker -m marker-b2 || fail "publish marker-b2"
wait_until 10 got '^province/gw-b/test/marker marker-b2$' || fail "the live reader missed marker-b2"
ok "live delivery across nodes: gw-b on node 1 -> reader on node 2"
# gw-b's ward IOC on node 3 gets gw-b's messages from node 1: gw-b sends
# markers until one arrived (the subscriber is up by then)
msub -p "$M3" -u gw-b-ioc -P gw-b-ioc-secret-0123 -i ward-ioc-b-live -t 'province/gw-b/#' -v -C 1 -W 20 \
	> "$T/ward-ioc.txt" 2>&1 &
WIOC=$!
PIDS="$PIDS $WIOC"
k=0
ioc_got_one() {
	k=$((k + 1))
	mpub -p "$M1" -u gw-b -P gw-b-secret-0123456 -t province/gw-b/test/marker -m "marker-live-$k" || return 1
	! kill -0 "$WIOC" 2> /dev/null
}
wait_until 15 ioc_got_one || fail "gw-b's ward IOC got none of $k markers: $(cat "$T/ward-ioc.txt")"
wait "$WIOC" || fail "gw-b's ward IOC: $(cat "$T/ward-ioc.txt")"
grep -q '^province/gw-b/test/marker marker-live-[0-9]*$' "$T/ward-ioc.txt" || fail "gw-b's ward IOC got: $(cat "$T/ward-ioc.txt")"
ok "gw-b's ward IOC on node 3 gets gw-b's messages from node 1"
"$ROOT/scripts/province-cluster.sh" stop "$PD" > "$T/stop.out" 2>&1 || fail "stop failed"
for i in 1 2 3; do
	[ -e "/proc/$(cat "$PD/n$i/nats.pid")" ] && fail "node $i still runs after stop"
done
"$ROOT/scripts/province-cluster.sh" status "$PD" > /dev/null 2>&1 && fail "status says up after stop"
ok "province-cluster.sh stop: the 3 nodes stopped by PID; status says down"
