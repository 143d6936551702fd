#!/usr/bin/env bash
# RTU frames over TCP (a serial server), two devices on the one link with
# the same unit id, a device that always answers 400 ms after the
# gateway's timeout: with no transaction id in RTU, a late answer arriving
# while the other device's request is out was taken as its reply. After a
# timeout the link now waits for silence and drops what comes, so no late
# answer is ever stored.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) P=$(free_port)
start_mosquitto "$MQ"
python3 "$ROOT/tests/integration/fake_modbus.py" "$P" late rtu 900 > "$T/fake.log" 2>&1 &
PIDS="$PIDS $!"
wait_until 10 grep -q ready "$T/fake.log" || fail "fake serial server not ready"
# one read per poll: a late answer is then a whole poll's answer
mkdir -p "$T/profiles"
cat > "$T/profiles/one.conf" <<'EOP'
profile = { name = "one"; registers = (
  { metric = "supplyVoltage"; table = "holding"; address = 0; type = "u16"; unit = "V"; } ); };
EOP
write_config "$T/gw.conf" "$MQ" "
  { name = \"meter-a\"; host = \"127.0.0.1\"; port = $P; framing = \"rtu\"; unit = 1; profile = \"one\";
    poll_interval_ms = 1500; timeout_ms = 500; backoff_max_ms = 1500; },
  { name = \"meter-b\"; host = \"127.0.0.1\"; port = $P; framing = \"rtu\"; unit = 1; profile = \"one\";
    poll_interval_ms = 1500; timeout_ms = 500; backoff_max_ms = 1500; }"
sed -i "s|^profiles_dir = .*|profiles_dir = \"$T/profiles\";|" "$T/gw.conf"
start_gateway "$T/gw.conf" --run-secs 9
wait_until 20 test -s "$T/stats.json" || fail "gateway did not stop"
ok_polls=$(jq .ok "$T/stats.json")
failed=$(jq .failed "$T/stats.json")
a=$(sample_count "$T/gw.conf" meter-a supplyVoltage)
b=$(sample_count "$T/gw.conf" meter-b supplyVoltage)
[ "$ok_polls" = 0 ] && [ "$a" = 0 ] && [ "$b" = 0 ] \
	|| fail "late answers taken for replies: $ok_polls good polls, samples $a/$b (want none)"
[ "$failed" -ge 4 ] || fail "only $failed failed polls: the late device was not polled"
grep -q 'device meter-a: offline: no reply within 500 ms' "$T/gateway.log" || fail "meter-a: $(grep meter-a "$T/gateway.log" | tail -2)"
ok "$failed polls of a device answering 400 ms late on a shared RTU link: all failed, no late answer stored"
