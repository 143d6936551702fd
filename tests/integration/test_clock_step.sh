#!/usr/bin/env bash
# The wall clock steps back one hour, then forward one day, while the
# gateway polls three devices every 200 ms and a client pushes batches
# against its rate limit (docs/architecture.md, "Time"). The gateway's wall
# clock is driven through WARDGW_TEST_WALL_OFFSET_FILE; the machine's is
# untouched. Polling keeps its rhythm (no stall after the step back, no
# burst of skipped slots after the step forward); the rate limit neither
# stalls nor goes negative (Retry-After stays a second or two, a token
# comes back a second later) nor fills beyond its burst.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) BASE=$(free_port 3) CTL=$(free_port) HP=$(free_port) IP=$(free_port)
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 2 --sdm120 1 --dds238 0 --freeze --control "$CTL"
TOK=0123456789abcdef-clock-step
printf 'stepper %s\n' "$TOK" > "$T/tokens"
chmod 600 "$T/tokens"
write_config "$T/gw.conf" "$MQ" "
  { name = \"cab-1\"; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; poll_interval_ms = 200; timeout_ms = 150; },
  { name = \"cab-2\"; host = \"127.0.0.1\"; port = $((BASE + 1)); profile = \"lighting-cabinet\"; poll_interval_ms = 200; timeout_ms = 150; },
  { name = \"sdm\"; host = \"127.0.0.1\"; port = $((BASE + 2)); profile = \"sdm120\"; poll_interval_ms = 200; timeout_ms = 150; },
  { name = \"pushed\"; driver = \"push\"; profile = \"wifi-ap\"; poll_interval_ms = 10000; }" "
http = { listen = \"127.0.0.1:$HP\"; };
ingest = { listen = \"127.0.0.1:$IP\"; token_file = \"tokens\"; rate_per_min = 60; burst = 5; };"
"$WARDGW" check -c "$T/gw.conf" > "$T/check.log" 2>&1 || fail "config refused: $(cat "$T/check.log")"

export WARDGW_TEST_WALL_OFFSET_FILE="$T/offset"
echo 0 > "$T/offset"
start_gateway "$T/gw.conf"
unset WARDGW_TEST_WALL_OFFSET_FILE
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

echo -3600000 > "$T/offset"
wait_for 5 '[ "$(skew)" -le -3590 ] && [ "$(skew)" -ge -3610 ]' || fail "the gateway's wall clock did not step back (skew $(skew) s)"
keeps_rhythm "an hour back"
drain back
refills back
ok "wall clock one hour back: polling keeps its rhythm, the rate limit refills after a second (not an hour)"

echo 86400000 > "$T/offset"
wait_for 5 '[ "$(skew)" -ge 86390 ] && [ "$(skew)" -le 86410 ]' || fail "the gateway's wall clock did not step forward (skew $(skew) s)"
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

echo 0 > "$T/offset"
wait_for 5 '[ "$(skew)" -le 10 ] && [ "$(skew)" -ge -10 ]' || fail "the gateway's wall clock did not come back"
keeps_rhythm "back to the machine's time"
kill -0 "$GW_PID" || fail "the gateway died"
ok "and back: polling goes on, the gateway is running; the pushed device was never called silent"
