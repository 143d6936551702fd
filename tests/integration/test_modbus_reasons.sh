#!/usr/bin/env bash
# A device that answers wrongly is offline with what was wrong, not "no
# reply": a reply with another transaction id, an MBAP length field longer
# than any reply to the request, a reply trickling in past the timeout, no
# reply at all. Dropped frames are counted in /metrics. A reply that comes
# in pieces within the timeout is read whole. The --live line's
# on-time figure is over the polls that ran, with offline devices apart.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) HP=$(free_port)
start_mosquitto "$MQ"
devs=""
for mode in tid long trickle dead ok split; do
	p=$(free_port)
	python3 "$ROOT/tests/integration/fake_modbus.py" "$p" "$mode" > "$T/fake-$mode.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_until 10 grep -q ready "$T/fake-$mode.log" || fail "fake device $mode not ready"
	devs="$devs${devs:+,}
  { name = \"m-$mode\"; host = \"127.0.0.1\"; port = $p; profile = \"sdm120\"; poll_interval_ms = 2000;
    timeout_ms = 500; backoff_max_ms = 2000; }"
done
write_config "$T/gw.conf" "$MQ" "$devs" "http = { listen = \"127.0.0.1:$HP\"; };"
start_gateway "$T/gw.conf" --live 1
reason() { grep -o "device m-$1: offline: .*" "$T/gateway.log" | head -1; }
wait_for 20 '[ -n "$(reason tid)" ] && [ -n "$(reason long)" ] && [ -n "$(reason trickle)" ] && [ -n "$(reason dead)" ]' \
	|| fail "not every faulty device went offline: $(grep 'offline' "$T/gateway.log")"
case "$(reason tid)" in *"no valid reply within 500 ms: dropped a reply with transaction id "*" (sent "*")"*) ;;
	*) fail "wrong transaction id: $(reason tid)";; esac
case "$(reason long)" in *"malformed reply: MBAP length field 107, a reply to this request has at most 7"*) ;;
	*) fail "over-long length field: $(reason long)";; esac
case "$(reason trickle)" in *"no whole reply within 500 ms: "[2-4]" of 13 bytes came"*) ;;
	*) fail "trickling reply: $(reason trickle)";; esac
case "$(reason dead)" in *"no reply within 500 ms"*) ;; *) fail "silent device: $(reason dead)";; esac
ok "reasons: $(reason tid | cut -d: -f3-) /$(reason long | cut -d: -f3-) /$(reason trickle | cut -d: -f3-)"

# the reply in pieces: read whole, every poll
grep -q "device m-split: offline" "$T/gateway.log" && fail "a reply in pieces: $(reason split)"
up=$(curl -s "http://127.0.0.1:$HP/metrics" | awk '$1 == "wardgw_device_up{device=\"m-split\"}" { print $2 }')
[ "$up" = 1 ] || fail "the device replying in pieces is not up: '$up'"
ok "a reply in three pieces is read whole (m-split up)"

d=$(curl -s "http://127.0.0.1:$HP/metrics" | awk '$1 == "wardgw_modbus_frames_discarded_total" { print $2 }')
[ -n "$d" ] && [ "$d" -ge 3 ] || fail "wardgw_modbus_frames_discarded_total is '$d'"
ok "wardgw_modbus_frames_discarded_total $d"

# the live view: m-ok is polled on time; the four offline devices do not
# pull the figure down
wait_for 15 'grep -q "on-time 100.0 % ([1-9][0-9]*/[1-9][0-9]*)  offline 4 devices" "$T/gateway.log"' \
	|| fail "live line: $(grep 'on-time' "$T/gateway.log" | tail -1)"
ok "live: $(grep -o 'on-time 100.0 %.*slots skipped)' "$T/gateway.log" | tail -1)"
