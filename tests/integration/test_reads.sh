#!/usr/bin/env bash
# Smarter reads: a meter polled with max_gap = 124 has its seven registers
# merged into two requests; a meter that refuses reads across the addresses
# it lacks (exception 0x02) is read without gaps from then on, once logged,
# and stays online with right values; max_regs caps a cabinet's requests.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) BASE=$(free_port 3) CTL=$(free_port) CTL2=$(free_port) BASE2=$(free_port 1)
start_mosquitto "$MQ"
# device 0: a cabinet; device 1: an SDM120 with a full map
start_sim --base-port "$BASE" --cabinets 1 --sdm120 1 --dds238 0 --freeze --control "$CTL"
# a second simulator: one SDM120 with holes in its map
"$SIM" --base-port "$BASE2" --cabinets 0 --sdm120 1 --dds238 0 --freeze --holes --control "$CTL2" > "$T/sim2.log" 2>&1 &
PIDS="$PIDS $!"
wait_until 10 grep -q ready "$T/sim2.log" || fail "second simulator not ready"

write_config "$T/gw.conf" "$MQ" "
  { name = \"cab\"; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; max_regs = 4; },
  { name = \"sdm-full\"; host = \"127.0.0.1\"; port = $((BASE + 1)); profile = \"sdm120\"; max_gap = 124; },
  { name = \"sdm-holes\"; host = \"127.0.0.1\"; port = $BASE2; profile = \"sdm120\"; max_gap = 124; }"
"$WARDGW" check -c "$T/gw.conf" > /dev/null || fail "config with max_gap/max_regs refused"
start_gateway "$T/gw.conf"

reqs() { "$SIM" --ctl "$1" stats | awk -F= '/requests/ { print $2 }'; }
polls() { sample_count "$T/gw.conf" "$1" "$2"; }
# the times (ms) of the stored polls of device $1 (metric $2)
poll_times() { "$WARDGW" query -c "$T/gw.conf" --device "$1" --metric "$2" --from -1h --format csv 2>/dev/null |
	tail -n +2 | cut -d, -f2; }
# polls of $1 ($2) with a time in ($3, $4]
polls_in() { poll_times "$1" "$2" | awk -v a="$3" -v b="$4" '$1 > a && $1 <= b' | wc -l; }
# every poll of $1 ($2) started by $3 is stored: one after it is (commits
# are in order), so a count up to $3 no longer depends on the store's lag
stored_past() { [ "$(poll_times "$1" "$2" | sort -n | tail -n 1)" -gt "$3" ] 2>/dev/null; }
now_ms() { date +%s%3N; }

wait_until 20 grep -q 'sdm-holes: exception 0x02 for .* reading that range without gaps' "$T/gateway.log" ||
	fail "no fallback for the meter with holes"
ok "fallback logged: $(grep -o 'sdm-holes: exception 0x02.*' "$T/gateway.log" | head -1)"
# three more polls of that meter stored: the gateway got past the point
# where it would log the fallback again or take the meter offline
p0=$(polls sdm-holes supplyVoltage)
wait_for 20 '[ "$(polls sdm-holes supplyVoltage)" -ge $((p0 + 3)) ]' || fail "the meter with holes was not polled after the fallback"
[ "$(grep -c 'sdm-holes: exception 0x02' "$T/gateway.log")" = 1 ] || fail "the fallback was logged more than once"
grep -q 'sdm-holes.*offline' "$T/gateway.log" && fail "the meter with holes went offline"

# requests per poll, counted at the simulators over a few seconds. The
# count is read between two clock readings (the control call takes a while,
# longer under ASan): polls stored with a time inside both brackets sent
# all their requests in the count, at most one poll a device was under way
# at each end, and no poll outside the outer times counts
# $1: control port -> "ms_before requests ms_after"
reqs_at() { local a b r; a=$(now_ms); r=$(reqs "$1"); b=$(now_ms); echo "$a $r $b"; }
read -r t1a r1 t1b <<< "$(reqs_at "$CTL2")"
p1=$(polls sdm-holes supplyVoltage)
# (8 polls: one request a poll too many would be more than the ends' slack)
wait_for 30 '[ "$(polls sdm-holes supplyVoltage)" -ge $((p1 + 8)) ]' || fail "sdm-holes: no 8 polls in 30 s"
read -r t2a r2 t2b <<< "$(reqs_at "$CTL2")"
wait_until 20 stored_past sdm-holes supplyVoltage "$t2b" || fail "sdm-holes: no poll stored after $t2b"
pin=$(polls_in sdm-holes supplyVoltage "$t1b" "$t2a") pout=$(polls_in sdm-holes supplyVoltage "$t1a" "$t2b")
got=$((r2 - r1))
per=$(awk -v r="$got" -v p="$pin" 'BEGIN { printf "%.1f", p ? r / p : 0 }')
# 0x0000..0x0049 refused as one read; after the fallback 0x00, 0x06, 0x0C,
# 0x1E alone, 0x46 + 0x48 (adjacent) together, and activeEnergy: 6 requests
# (a poll under way at either end sent 1 to 5 of its 6 in the count)
[ "$pin" -ge 6 ] && [ "$got" -ge $((6 * pin - 5)) ] && [ "$got" -le $((6 * pout + 5)) ] ||
	fail "sdm-holes: $got requests for $pin to $pout polls after the fallback (want 6 each)"
p1=0 p2=$pin
ok "sdm-holes: $((p2 - p1)) polls, $per requests each after the fallback"

# the full meter: 0x0000..0x0049 in one read, 0x0156 in another; the cabinet
# at max_regs = 4 reads 0x0000..0x0010 (17 registers) in 5 requests (the
# count bracketed as above: a poll of each under way at either end)
read -r t1a r1 t1b <<< "$(reqs_at "$CTL")"
a1=$(polls sdm-full supplyVoltage); c1=$(polls cab lampsOn)
wait_for 30 '[ "$(polls sdm-full supplyVoltage)" -ge $((a1 + 8)) ] && [ "$(polls cab lampsOn)" -ge $((c1 + 8)) ]' ||
	fail "sdm-full and cab: no 8 polls each in 30 s"
read -r t2a r2 t2b <<< "$(reqs_at "$CTL")"
wait_until 20 stored_past sdm-full supplyVoltage "$t2b" || fail "sdm-full: no poll stored after $t2b"
wait_until 20 stored_past cab lampsOn "$t2b" || fail "cab: no poll stored after $t2b"
a1=0 c1=0 a2=$(polls_in sdm-full supplyVoltage "$t1b" "$t2a") c2=$(polls_in cab lampsOn "$t1b" "$t2a")
aout=$(polls_in sdm-full supplyVoltage "$t1a" "$t2b") cout=$(polls_in cab lampsOn "$t1a" "$t2b")
got=$((r2 - r1))
low=$(( a2 * 2 + c2 * 5 - 1 - 4 )) high=$(( aout * 2 + cout * 5 + 1 + 4 ))
[ "$got" -ge "$low" ] && [ "$got" -le "$high" ] ||
	fail "sim 1: $got requests for $a2 to $aout meter polls (2 each) and $c2 to $cout cabinet polls (5 each)"
ok "sdm-full: 2 requests per poll with max_gap = 124; cab: $(awk -v r=$((got - 2 * a2)) -v p="$c2" 'BEGIN { printf "%.1f", r / p }') requests per poll with max_regs = 4 ($got requests, $a2-$aout and $c2-$cout polls)"

# and the values are right
for d in sdm-full sdm-holes; do
	ctl=$CTL idx=1
	[ $d = sdm-holes ] && ctl=$CTL2 idx=0
	for m in supplyVoltage powerFactor frequency activeEnergy; do
		want=$("$SIM" --ctl "$ctl" get $idx | awk -F= -v m="$m" '$1 == m { print $2 }')
		got=$("$WARDGW" query -c "$T/gw.conf" --device "$d" --metric "$m" --format json | jq -r '.samples[-1].v')
		awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-4 * (b < 0 ? -b : b) + 1e-6) }' ||
			fail "$d $m: stored $got, meter serves $want"
	done
done
ok "values of both meters match what they serve"
