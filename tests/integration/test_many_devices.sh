#!/usr/bin/env bash
# wardgw-test: serial (1,100 simulated devices and as many sockets: the whole machine)
# More than 1,024 devices in one gateway: every one is polled, with socket
# numbers past FD_SETSIZE (where libmodbus's select() would abort).
. "$(dirname "$0")/lib.sh"

N=${WARDGW_TEST_DEVICES:-1100}
MQ=$(free_port) BASE=$(free_port "$N")
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets "$N" --sdm120 0 --dds238 0
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab\"; count = $N; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; }"
start_gateway "$T/gw.conf" --run-secs 12
wait_for 30 '[ "$(ls /proc/$GW_PID/fd 2>/dev/null | wc -l)" -gt 1100 ]' || fail "gateway never held 1,100 sockets"
maxfd=$(ls /proc/$GW_PID/fd | sort -n | tail -n 1)
[ "$maxfd" -ge 1024 ] || fail "highest fd $maxfd is below 1024"
ok "gateway holds $(ls /proc/$GW_PID/fd | wc -l) descriptors, highest $maxfd"
wait_until 30 test -s "$T/stats.json" || fail "gateway did not stop and write stats"
ok_polls=$(jq .ok "$T/stats.json")
first=$(sample_count "$T/gw.conf" cab-0001 lampsOn)
last=$(sample_count "$T/gw.conf" "cab-$(printf %04d "$N")" lampsOn)
[ "$first" -ge 5 ] && [ "$last" -ge 5 ] || fail "first/last device have $first/$last samples"
[ "$ok_polls" -ge $((N * 9)) ] || fail "$ok_polls good polls for $N devices in 12 s"
online=$(jq .failed "$T/stats.json")
ok "$N devices: $ok_polls good polls, $online failed, stats $(cat "$T/stats.json")"
