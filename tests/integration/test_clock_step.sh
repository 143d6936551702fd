#!/usr/bin/env bash
# The wall clock steps back one hour, then forward one day, while the
# gateway polls three devices every 200 ms and a client pushes batches
# against its rate limit (docs/architecture.md, "Time"). The gateway's wall
# clock is driven through WARDGW_TEST_WALL_OFFSET_FILE; the machine's is
# untouched. Polling keeps its rhythm (no stall after the step back, no
# burst of skipped slots after the step forward); the rate limit neither
# stalls nor goes negative (Retry-After stays a second or two, a token
# comes back a second later) nor fills beyond its burst. Rollups and
# 1-minute KPI windows: after the step back, closed minutes stay closed (the
# samples of the repeated hour are counted late and kept raw only) and no
# KPI window closes; after the step forward the skipped day's windows are
# published once each; over the whole test every window is published once,
# in sequence, and the energy KPIs add up to the meters' whole increase:
# nothing lost, nothing twice. The step back to the machine's time (a day
# back) stops the windows again.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) BASE=$(free_port 3) CTL=$(free_port) HP=$(free_port) IP=$(free_port)
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 2 --sdm120 1 --dds238 0 --control "$CTL"
TOK=0123456789abcdef-clock-step
printf 'stepper %s\n' "$TOK" > "$T/tokens"
chmod 600 "$T/tokens"
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab-1\"; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; poll_interval_ms = 200; timeout_ms = 150; },
  { name = \"cab-2\"; host = \"127.0.0.1\"; port = $((BASE + 1)); profile = \"lighting-cabinet\"; poll_interval_ms = 200; timeout_ms = 150; },
  { name = \"sdm\"; host = \"127.0.0.1\"; port = $((BASE + 2)); profile = \"sdm120\"; poll_interval_ms = 200; timeout_ms = 150; },
  { name = \"pushed\"; driver = \"push\"; profile = \"wifi-ap\"; poll_interval_ms = 10000; }" "
http = { listen = \"127.0.0.1:$HP\"; };
ingest = { listen = \"127.0.0.1:$IP\"; token_file = \"tokens\"; rate_per_min = 60; burst = 5; };
kpis = (
  { name = \"energy\"; aggregate = \"delta\"; metric = \"activeEnergy\"; window = \"1m\"; },
  { name = \"power\"; aggregate = \"sum\"; metric = \"activePower\"; window = \"1m\"; }
);"
"$WARDGW" check -c "$T/gw.conf" > "$T/check.log" 2>&1 || fail "config refused: $(cat "$T/check.log")"

mosquitto_sub -h 127.0.0.1 -p "$MQ" -v -t 'ward/gw-test/kpi/#' > "$T/kpi.txt" 2>/dev/null &
PIDS="$PIDS $!"
clock_drive 0
start_gateway "$T/gw.conf"
wait_until 10 grep -q "clock: wall time shifted by the offset in $T/offset" "$T/gateway.log" ||
	fail "the gateway does not say its wall clock is driven"
wait_until 10 grep -q 'ingest: listening' "$T/gateway.log" || fail "ingest not listening"

metric() { curl -s "http://127.0.0.1:$HP/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
polls() { metric 'wardgw_polls_total{result="ok"}'; }
skipped() { metric wardgw_polls_skipped_total; }
# the gateway's wall time minus the machine's, in s
skew() { echo $(( $(curl -s "http://127.0.0.1:$HP/status.json" | jq '.ts') / 1000 - $(date +%s) )); }
# the gateway's wall time, s (readings are checked against it)
gwnow() { curl -s "http://127.0.0.1:$HP/status.json" | jq '.ts / 1000 | floor'; }
post() { # a reading of the pushed device -> status code; Retry-After in $T/ra
	curl -s -o "$T/resp.json" -D "$T/hdr" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-H "Authorization: Bearer $TOK" --data-binary "{\"batch_id\": \"b-$1\", \"readings\": [
		{\"type\": \"device\", \"device\": \"pushed\", \"ts\": $TS, \"values\": {\"clients\": 3}}]}" \
		"http://127.0.0.1:$IP/v1/readings"
	tr -d '\r' < "$T/hdr" | awk -F': ' 'tolower($1) == "retry-after" { print $2 }' > "$T/ra"
}
# KPI windows published: "start seq" of KPI $1, one line each
windows() { grep '^ward/gw-test/kpi/' "$T/kpi.txt" | cut -d' ' -f2- | jq -r --arg k "$1" \
	'select(.[0].n == $k) | "\(.[] | select(.n == ($k + "/start")) | .v | round) \(.[] | select(.n == ($k + "/seq")) | .v)"'; }
nwin() { windows "$1" | wc -l; }
meta() { sqlite3 "file:$T/data/wardgw.db?mode=ro" "SELECT value FROM meta WHERE key = '$1'" 2>/dev/null; }
late() { metric wardgw_rollup_late_samples_total; }
N=0
# Spend the bucket: 5 in a row are accepted (one more for each second the
# posting took: it refills meanwhile), then 429 with a Retry-After of one
# or two seconds (a negative bucket asks for an hour).
drain() {
	local ok=0 code ra t0 ms
	TS=$(gwnow) t0=$(date +%s%3N)
	for _ in $(seq 12); do
		N=$((N + 1))
		code=$(post "$1-$N")
		case $code in
		200) ok=$((ok + 1)) ;;
		429) break ;;
		*) fail "$1: post answered $code: $(cat "$T/resp.json")" ;;
		esac
	done
	ms=$(( $(date +%s%3N) - t0 ))
	[ "$code" = 429 ] || fail "$1: no 429 after $ok accepted batches (burst 5)"
	[ "$ok" -le $((5 + (ms + 999) / 1000)) ] ||
		fail "$1: $ok batches accepted in a row in $ms ms, more than the burst of 5 and 1 a second"
	ra=$(cat "$T/ra")
	[ -n "$ra" ] && [ "$ra" -ge 1 ] && [ "$ra" -le 2 ] || fail "$1: Retry-After '$ra', want 1 or 2 s"
	DRAINED=$ok RA=$ra
}
# A token comes back about a second later: accepted within 4 s, not after
# the wall clock has caught up an hour.
refills() {
	N=$((N + 1)) TS=$(gwnow)
	wait_for 4 '[ "$(post "$1-$N")" = 200 ]' || fail "$1: the rate limit stalled: $(cat "$T/resp.json")"
}
# Polling goes on: at least 15 more good polls (3 devices at 5 a second)
# within 10 s, and no more than a few slots skipped.
keeps_rhythm() {
	local p0 s0
	p0=$(polls) s0=$(skipped)
	wait_for 10 '[ "$(polls)" -ge $((p0 + 15)) ]' || fail "$1: polling stalled at $(polls) good polls (from $p0)"
	[ $(( $(skipped) - s0 )) -le 5 ] || fail "$1: $(( $(skipped) - s0 )) poll slots skipped"
}

wait_for 10 '[ "$(polls)" -ge 15 ] 2>/dev/null' || fail "no polls"
keeps_rhythm "before the steps"
drain before
[ "$DRAINED" -ge 5 ] || fail "a fresh bucket accepted $DRAINED, want its burst of 5"
refills before
ok "before: polling at 200 ms, rate limit: $DRAINED accepted (burst 5), then Retry-After $RA s, a token a second later"
# a minute window closes (the gateway's clock moved to the next minute)
clock_next_minute
wait_for 20 '[ "$(nwin energy)" -ge 1 ] && [ "$(nwin power)" -ge 1 ]' || fail "no KPI window before the steps"
M0=$(meta rollup_minute_done) K0=$(meta kpi.energy.done) W0=$(nwin energy) L0=$(late)
ok "before: minutes rolled up to $M0, $W0 energy window(s) published"

# what the meters counted, by the store's samples stamped in [FROM, TO) ms
# (the gateway's wall time): per device its last value minus its first
energy_csv() {
	WARDGW_TEST_WALL_OFFSET_FILE= "$WARDGW" query -c "$T/gw.conf" --all --from 2020-01-01 --to 2100-01-01 |
		awk -F, '$2 == "activeEnergy" && $4 != ""' > "$T/energy.csv"
}
counted() { # FROM TO
	awk -F, -v from="$1" -v to="$2" '$3 >= from && $3 < to {
			d = $1; if (!(d in t0) || $3 < t0[d]) { t0[d] = $3; v0[d] = $4 }
			if (!(d in t1) || $3 > t1[d]) { t1[d] = $3; v1[d] = $4 } }
		END { for (d in t0) s += v1[d] - v0[d]; printf "%.6f", s }' "$T/energy.csv"
}
# the meters count before the steps (the lower bound below is then more
# than nothing): the sdm120's float register moves by ~0.002 kWh, every
# 20-30 s here
first=$(( $(windows energy | sort -n | head -1 | cut -d' ' -f1) * 1000 ))
wait_for 90 'energy_csv; awk -v c="$(counted "$first" "$(gw_wall_ms)")" "BEGIN { exit !(c > 0) }"' ||
	fail "the meters counted nothing since the first window ($(counted "$first" "$(gw_wall_ms)") kWh)"
# the gateway's wall time of the first step, and what the meters counted
# by then (from the store, now: samples stamped before it later, after the
# last step back to the machine's time, are not in it)
t_step=$(gw_wall_ms)
energy_csv
low=$(counted "$first" "$t_step")
echo -3600000 > "$T/offset"
wait_for 5 '[ "$(skew)" -le -3590 ] && [ "$(skew)" -ge -3610 ]' || fail "the gateway's wall clock did not step back (skew $(skew) s)"
keeps_rhythm "an hour back"
drain back
refills back
ok "wall clock one hour back: polling keeps its rhythm, the rate limit refills after a second (not an hour)"
wait_until 10 grep -q 'rollup: the wall clock went back 36[0-9][0-9] s behind the closed minutes' "$T/gateway.log" ||
	fail "the rollup did not say the wall clock went back"
# commits after the step (the sign of life is written afresh, an hour
# back) and samples counted late: then nothing was closed
wait_for 10 '[ "$(meta gateway_alive)" -lt "$M0" ] && [ "$(late)" -ge $((L0 + 30)) ]' ||
	fail "no commit after the step back (alive $(meta gateway_alive), late $(late) from $L0)"
[ "$(meta rollup_minute_done)" = "$M0" ] && [ "$(meta kpi.energy.done)" = "$K0" ] && [ "$(nwin energy)" = "$W0" ] ||
	fail "windows closed after the step back: minutes done $(meta rollup_minute_done) (was $M0), energy windows $(nwin energy) (was $W0)"
ok "an hour back: no minute or KPI window closed again, $(( $(late) - L0 )) samples of the repeated hour kept raw only"

echo 86400000 > "$T/offset"
wait_for 5 '[ "$(skew)" -ge 86390 ] && [ "$(skew)" -le 86410 ]' || fail "the gateway's wall clock did not step forward (skew $(skew) s)"
# the skipped day's windows: closed once each, by instalments of about
# half a second of the loop thread per flush (a slot or two may be skipped)
DAY=$(( ($(date +%s) + 86400 - 120) * 1000 ))
wait_for 90 '[ "$(meta kpi.energy.done)" -ge "$DAY" ] && [ "$(meta kpi.power.done)" -ge "$DAY" ]' ||
	fail "the skipped day's KPI windows were not closed: energy done $(meta kpi.energy.done), want $DAY"
grep -q 'rollup: the wall clock is past the closed minutes again' "$T/gateway.log" || fail "the rollup did not say it caught up"
ok "a day forward: the skipped day's minute windows closed (loop lag at most $(metric wardgw_loop_lag_max_seconds) s, $(skipped) poll slots skipped in all)"
keeps_rhythm "a day forward"
# the pushed device's silence check runs every 10 s: let 165 polls (11 s
# at least) pass with no push, then it has looked at a silence of seconds
# (under its 30 s limit), not of a day
p0=$(polls)
wait_for 40 '[ "$(polls)" -ge $((p0 + 165)) ]' || fail "polling stalled after the step forward"
grep -q 'no push for' "$T/gateway.log" && fail "the pushed device was called silent after the step forward: $(grep -m1 'no push for' "$T/gateway.log")"
# a day passed on the wall, seconds on the monotonic clock: the bucket
# holds what those seconds give, never more than its burst
drain forward
refills forward
ok "wall clock one day forward: no burst of skipped slots, the rate limit stays within its burst, no push silence of a day"

M1=$(meta rollup_minute_done)
echo 0 > "$T/offset"
wait_for 5 '[ "$(skew)" -le 10 ] && [ "$(skew)" -ge -10 ]' || fail "the gateway's wall clock did not come back"
keeps_rhythm "back to the machine's time"
wait_until 10 grep -q 'rollup: the wall clock went back 86[0-9][0-9][0-9] s behind the closed minutes' "$T/gateway.log" ||
	fail "the rollup did not say the wall clock went back a day"
wait_for 10 '[ "$(meta gateway_alive)" -lt "$M1" ]' || fail "no commit after the step back to the machine's time"
[ "$(meta rollup_minute_done)" = "$M1" ] || fail "minutes closed after the step back to the machine's time"
# every window once, in sequence, each starting where the one before ended
for k in energy power; do
	windows $k | sort -n > "$T/win-$k"
	n=$(wc -l < "$T/win-$k")
	[ "$(cut -d' ' -f2 "$T/win-$k" | tr '\n' ' ')" = "$(seq -s ' ' 1 "$n") " ] ||
		fail "$k: window sequence numbers not 1..$n in the order of the windows"
	[ "$(cut -d' ' -f1 "$T/win-$k" | uniq -d)" = "" ] || fail "$k: a window published twice"
	awk 'NR > 1 && $1 != p + 60 { bad = 1 } { p = $1 } END { exit bad }' "$T/win-$k" || fail "$k: a window missing"
done
[ "$n" -ge 1440 ] || fail "only $n windows over a day"
# nothing lost, nothing counted twice: the energy windows add up to at
# least what the meters counted between samples read before the first step
# (stamped from the first window to $t_step: their minutes closed), and to
# at most what they counted from the first window to the last sample before
# the last window's end. In between: a counter's increase read during the
# repeated hour lands in the first minute that closes after it; one read a
# day ahead or after the last step back lands in a minute not closed yet
# (or closed already: raw only), depending on when the steps fell.
start=$(( $(head -1 "$T/win-energy" | cut -d' ' -f1) * 1000 ))
end=$(( ($(tail -1 "$T/win-energy" | cut -d' ' -f1) + 60) * 1000 ))
got=$(grep '^ward/gw-test/kpi/' "$T/kpi.txt" | cut -d' ' -f2- | jq -s '[.[] | select(.[0].n == "energy") | .[0].v // 0] | add')
energy_csv
high=$(counted "$start" "$end")
[ "$start" = "$first" ] || fail "the first window is $start, not $first as before the steps"
awk -v l="$low" 'BEGIN { exit !(l > 0) }' || fail "the lower bound is nothing: the meters counted $low kWh before the first step"
awk -v a="$got" -v l="$low" -v h="$high" 'BEGIN { exit !(a >= l - 1e-6 && a <= h + 1e-6) }' ||
	fail "the energy windows add up to $got kWh, the meters counted $low kWh before the first step and $high kWh in all"
ok "$n windows per KPI, each once and in sequence; energy over them $got kWh, between what the meters counted before the first step ($low) and in all ($high): nothing read before the steps lost, nothing counted twice"
kill -0 "$GW_PID" || fail "the gateway died"
ok "and back: polling goes on, the gateway is running; the pushed device was never called silent"
