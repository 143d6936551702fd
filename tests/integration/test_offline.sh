#!/usr/bin/env bash
# A device that stops answering goes offline (with its reason) while the
# others keep their schedule, and comes back online when it answers again.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) BASE=$(free_port 4) CTL=$(free_port)
SIM_CTL=$CTL
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 4 --sdm120 0 --dds238 0 --control "$CTL"
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab\"; count = 4; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; }"
start_gateway "$T/gw.conf"
wait_for 10 '[ "$(sample_count "$T/gw.conf" cab-004 lampsOn)" -ge 1 ]' || fail "no data from cab-004"

sim_ctl mute 1 > /dev/null || fail "sim ctl mute"
t0=$SECONDS
wait_until 10 grep -q 'device cab-002: offline: no reply within 300 ms' "$T/gateway.log" \
	|| fail "cab-002 did not go offline with its reason"
ok "cab-002 offline after $((SECONDS - t0)) s: $(grep -o 'cab-002: offline.*' "$T/gateway.log" | head -n 1)"

# While cab-002 is offline the others keep polling once a second.
before=$(sample_count "$T/gw.conf" cab-001 lampsOn)
b3=$(sample_count "$T/gw.conf" cab-003 lampsOn)
dead_before=$(sample_count "$T/gw.conf" cab-002 lampsOn)
served() { sim_ctl served "$1" | sed -n 's/^served=//p'; }
s0=$(served 1) t0=$SECONDS
# 4 polls each of cab-001 and cab-003 within 5 s (one a second)
wait_for 5 '[ "$(sample_count "$T/gw.conf" cab-001 lampsOn)" -ge $((before + 4)) ] &&
	    [ "$(sample_count "$T/gw.conf" cab-003 lampsOn)" -ge $((b3 + 4)) ]'
after=$(sample_count "$T/gw.conf" cab-001 lampsOn)
a3=$(sample_count "$T/gw.conf" cab-003 lampsOn)
secs=$((SECONDS - t0))
[ $((after - before)) -ge 4 ] || fail "cab-001 got $((after - before)) polls in $secs s while cab-002 was dead"
[ $((a3 - b3)) -ge 4 ] || fail "cab-003 got $((a3 - b3)) polls in $secs s while cab-002 was dead"
# and the dead one was asked twice more (the simulator counts the requests
# it leaves unanswered): the gateway got past the points where a sample or
# a second offline line would come
wait_for 15 '[ "$(served 1)" -ge $((s0 + 2)) ]' || fail "the dead cab-002 was not asked again"
dead_after=$(sample_count "$T/gw.conf" cab-002 lampsOn)
[ "$dead_after" -eq "$dead_before" ] || fail "a dead device produced samples"
ok "others kept their schedule: cab-001 +$((after - before)), cab-003 +$((a3 - b3)) in $secs s; cab-002 asked $(($(served 1) - s0)) times, no sample"

# One offline line for the outage, not one per failed poll.
n=$(grep -c 'device cab-002: offline' "$T/gateway.log")
[ "$n" -eq 1 ] || fail "offline logged $n times"

sim_ctl unmute 1 > /dev/null || fail "sim ctl unmute"
wait_until 10 grep -q 'device cab-002: online' "$T/gateway.log" || fail "cab-002 did not come back online"
ok "cab-002 back online"
n=$(sample_count "$T/gw.conf" cab-002 lampsOn)
wait_for 5 '[ "$(sample_count "$T/gw.conf" cab-002 lampsOn)" -gt "$n" ]' || fail "no new samples from cab-002"

# A refused port: offline with the connection error as reason.
sim_ctl refuse 3 > /dev/null || fail "sim ctl refuse"
wait_until 15 grep -q 'device cab-004: offline: .*\(refused\|closed\|reply\)' "$T/gateway.log" \
	|| fail "cab-004 did not go offline after its port closed"
ok "refused device offline: $(grep -o 'cab-004: offline.*' "$T/gateway.log" | head -n 1)"
