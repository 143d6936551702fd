#!/usr/bin/env bash
# The TLS link to the broker, on a real mosquitto with a TLS listener, a
# throw-away CA (server and client certificates) and a second, unrelated CA:
#  a) right CA, uri host named by the certificate: connects, telemetry arrives
#  b) wrong CA: refused, one clear "certificate verify failed" line, polling
#     and storing go on
#  c) right CA, uri host not named by the certificate (127.0.0.1, the
#     certificate names only DNS:localhost): refused with a host name line
#  d) the same with verify_hostname = false: connects
# In all: a client certificate and a password_file, whose secret is never logged.
. "$(dirname "$0")/lib.sh"

command -v openssl > /dev/null || fail "the openssl command is missing (apt-get install openssl)"
command -v mosquitto_passwd > /dev/null || fail "mosquitto_passwd is missing (package mosquitto)"

# --- certificates ---------------------------------------------------------
PKI=$T/pki
mkdir -p "$PKI"
ossl() { openssl "$@" >> "$T/openssl.out" 2>&1 || fail "openssl $1 failed: $(tail -n 5 "$T/openssl.out")"; }
make_ca() {    # NAME CN
	ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$2" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		-keyout "$PKI/$1.key" -out "$PKI/$1.pem"
}
make_cert() {  # NAME CN EXTENSIONS (signed by ca)
	ossl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$PKI/$1.key" -out "$PKI/$1.csr"
	printf '%s\n' "$3" > "$PKI/$1.ext"
	ossl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -CAcreateserial \
		-days 2 -extfile "$PKI/$1.ext" -out "$PKI/$1.pem"
}
make_ca ca "wardgw test CA"
make_ca wrong-ca "unrelated CA"
# the server certificate names localhost only (no IP), so that 127.0.0.1 is a mismatch
make_cert server localhost "subjectAltName=DNS:localhost
extendedKeyUsage=serverAuth"
make_cert client gw-test "extendedKeyUsage=clientAuth"
ok "test CA, server (DNS:localhost), client and an unrelated CA made"

# --- broker: TLS only, client certificate and password required -----------
MQ=$(free_port) BASE=$(free_port)
SECRET="tls-s3cret-$RANDOM$RANDOM"
printf '%s\n' "$SECRET" > "$T/mqtt.pw"
chmod 600 "$T/mqtt.pw"
mosquitto_passwd -c -b "$T/mosquitto.passwd" gw-test "$SECRET" > /dev/null 2>&1 \
	|| fail "mosquitto_passwd failed"
# `user`: as root mosquitto would drop to user mosquitto, which cannot read
# the keys in our private test directory; as another user it is ignored.
cat > "$T/mosquitto-tls.conf" <<EOC
user $(id -un)
persistence false
listener $MQ 127.0.0.1
cafile $PKI/ca.pem
certfile $PKI/server.pem
keyfile $PKI/server.key
require_certificate true
allow_anonymous false
password_file $T/mosquitto.passwd
EOC
mosquitto -c "$T/mosquitto-tls.conf" >> "$T/mosquitto.log" 2>&1 &
MOSQ_PID=$!
PIDS="$PIDS $MOSQ_PID"
wait_until 10 port_busy "$MQ" || fail "mosquitto did not start its TLS listener on port $MQ"

# The IOC's view, over TLS with the same CA and a client certificate.
mosquitto_sub -h localhost -p "$MQ" --cafile "$PKI/ca.pem" --cert "$PKI/client.pem" --key "$PKI/client.key" \
	-u gw-test -P "$SECRET" -i tls-test-sub -v -t 'ward/gw-test/telemetry/#' > "$T/sub.txt" 2> "$T/sub.log" &
PIDS="$PIDS $!"
wait_until 10 grep -q "New client connected .* as tls-test-sub" "$T/mosquitto.log" \
	|| fail "mosquitto_sub could not connect over TLS"
ok "broker with a TLS listener on port $MQ; subscriber connected over TLS"

start_sim --base-port "$BASE" --cabinets 1 --sdm120 0 --dds238 0

# gw_config FILE URI MQTT_KEYS: write_config's file with the mqtt uri and TLS keys set
gw_config() {
	write_config "$1" 0 "
  { name = \"cab\"; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; }"
	sed -i "s|^mqtt = { uri = \"tcp://127.0.0.1:0\";|mqtt = { uri = \"$2\"; username = \"gw-test\"; password_file = \"$T/mqtt.pw\"; cert_file = \"$PKI/client.pem\"; key_file = \"$PKI/client.key\"; $3|" "$1"
	grep -qF "uri = \"$2\"" "$1" || fail "could not set the mqtt uri in $1"
	"$WARDGW" check -c "$1" > "$T/check.out" 2>&1 || fail "config $1 is not valid: $(cat "$T/check.out")"
}
telemetry() { grep -c '^ward/gw-test/telemetry/cab ' "$T/sub.txt"; }
connections() { grep -c 'New connection from' "$T/mosquitto.log"; }
# end_case NAME: stop the gateway, keep its log as gateway-NAME.log
end_case() {
	stop_pid "$GW_PID"
	mv "$T/gateway.log" "$T/gateway-$1.log"
}
# refused_case NAME: the link stays down, the refusal is logged once, and
# the cabinet is still polled and stored meanwhile
refused_case() {
	local name=$1 n0 t0 s0
	t0=$(telemetry)
	n0=$(connections)
	s0=$(sample_count "$T/$name.conf" cab lampsOn)
	# An attempt is Paho's two tries (MQTT 3.1.1, then 3.1) and the gateway's
	# probe; the logged one is over. A 4th new connection starts the attempt
	# after next, so one more refusal has been handled (and not logged).
	wait_for 20 '[ $(($(connections) - n0)) -ge 4 ]' || fail "$name: the gateway did not retry the broker"
	wait_for 10 '[ "$(sample_count "$T/$name.conf" cab lampsOn)" -ge $((s0 + 2)) ]' \
		|| fail "$name: polling/storing stopped while the TLS link was refused"
	grep -q 'connected (session' "$T/gateway.log" && fail "$name: the gateway connected"
	[ "$(telemetry)" = "$t0" ] || fail "$name: telemetry arrived over a link that should be refused"
	[ "$(grep -c 'cannot connect' "$T/gateway.log")" = 1 ] \
		|| fail "$name: the refusal is not logged exactly once: $(grep 'cannot connect' "$T/gateway.log")"
	kill -0 "$GW_PID" 2> /dev/null || fail "$name: the gateway died"
	ok "$name: link refused, logged once over $(($(connections) - n0)) connections;" \
		"$(($(sample_count "$T/$name.conf" cab lampsOn) - s0)) samples stored meanwhile"
}

# --- a) right CA, host named by the certificate ----------------------------
gw_config "$T/a.conf" "ssl://localhost:$MQ" "ca_file = \"$PKI/ca.pem\";"
t0=$(telemetry)
start_gateway "$T/a.conf"
wait_until 15 grep -qs "mqtt ssl://localhost:$MQ: connected" "$T/gateway.log" \
	|| fail "a: the gateway did not connect over TLS with the right CA"
wait_for 15 '[ "$(telemetry)" -ge $((t0 + 2)) ]' || fail "a: no telemetry arrived over TLS"
grep -q 'cannot connect\|TLS' "$T/gateway.log" && fail "a: TLS complaint with the right CA: $(grep 'cannot connect\|TLS' "$T/gateway.log")"
ok "a: right CA: connected, $(($(telemetry) - t0)) telemetry packs received over TLS"
end_case a

# --- b) a CA that did not sign the broker's certificate ---------------------
gw_config "$T/b.conf" "ssl://localhost:$MQ" "ca_file = \"$PKI/wrong-ca.pem\";"
start_gateway "$T/b.conf"
wait_until 15 grep -qs 'cannot connect: TLS: certificate verify failed' "$T/gateway.log" \
	|| fail "b: no 'TLS: certificate verify failed' line with the wrong CA"
grep 'cannot connect' "$T/gateway.log" | grep -qF "ca_file $PKI/wrong-ca.pem" \
	|| fail "b: the verify failure does not name the ca_file"
refused_case b
echo "   b: $(grep -o 'cannot connect: .*' "$T/gateway.log")"
end_case b

# --- c) right CA, but the uri's host is not in the certificate ---------------
gw_config "$T/c.conf" "ssl://127.0.0.1:$MQ" "ca_file = \"$PKI/ca.pem\";"
start_gateway "$T/c.conf"
wait_until 15 grep -qs 'cannot connect: TLS: host name verification failed' "$T/gateway.log" \
	|| fail "c: no 'TLS: host name verification failed' line for a host the certificate does not name"
grep 'cannot connect' "$T/gateway.log" | grep -qF "is for DNS:localhost, not for '127.0.0.1'" \
	|| fail "c: the host name failure does not say which names the certificate has"
refused_case c
echo "   c: $(grep -o 'cannot connect: .*' "$T/gateway.log")"
end_case c

# --- d) the same with verify_hostname = false --------------------------------
gw_config "$T/d.conf" "ssl://127.0.0.1:$MQ" "ca_file = \"$PKI/ca.pem\"; verify_hostname = false;"
t0=$(telemetry)
start_gateway "$T/d.conf"
wait_until 15 grep -qs "mqtt ssl://127.0.0.1:$MQ: connected" "$T/gateway.log" \
	|| fail "d: verify_hostname = false did not let the gateway connect"
wait_for 15 '[ "$(telemetry)" -ge $((t0 + 2)) ]' || fail "d: no telemetry arrived with verify_hostname = false"
ok "d: verify_hostname = false: connected, telemetry received"
end_case d

# --- the password never reaches a log ---------------------------------------
grep -lF "$SECRET" "$T"/gateway-*.log && fail "the MQTT password appears in the gateway's log"
ok "the password from password_file appears in no gateway log"
