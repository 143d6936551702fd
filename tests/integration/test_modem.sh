#!/usr/bin/env bash
# Modem driver end to end: a simulated Quectel modem on a pseudo-terminal
# drives west to east and back along row 2 of the simulated ward (through
# the 5G dead zone, columns 2..4), with echo on, URCs mixed into replies and
# a CESQ that fails now and then. The gateway polls it on a worker thread;
# its samples land in the right cells with the right signal, the coverage
# engine then finds the dead zone (by hand: 10 cells measured, 3 dead);
# the modem hanging (SIGSTOP: timeouts) and disappearing (pty closed) make
# it offline, and it comes back by itself.
. "$(dirname "$0")/lib.sh"

"$SIM" survey --out "$T/unused.csv" --boundary "$T/ward.geojson" 2> /dev/null || fail "no ward boundary"
read -r LONW LATS LONE LATN < <(jq -r '.geometry.coordinates[0] | "\(.[0][0]) \(.[0][1]) \(.[2][0]) \(.[2][1])"' "$T/ward.geojson")

start_modem() {
	"$SIM" modem --link "$T/ttyMODEM" --speed 50 >> "$T/modem.log" 2>&1 &
	MODEM_PID=$!
	PIDS="$PIDS $MODEM_PID"
	wait_until 10 grep -q ready "$T/modem.log" || fail "modem simulator not ready"
}
MQ=$(free_port)
start_mosquitto "$MQ"
start_modem
write_config "$T/gw.conf" "$MQ" "
  { name = \"modem-1\"; driver = \"modem\"; profile = \"cell-modem\"; port = \"$T/ttyMODEM\"; baud = 115200;
    gnss = true; poll_interval_ms = 500; timeout_ms = 150; backoff_max_ms = 1000; }" "
coverage = { boundary_file = \"ward.geojson\"; cell_m = 100.0; publish_interval_s = 3600; };"
"$WARDGW" check -c "$T/gw.conf" > "$T/check.log" 2>&1 || fail "config refused: $(cat "$T/check.log")"
start_gateway "$T/gw.conf" -v
DB="$T/data/wardgw.db"
nr_samples() { sqlite3 "$DB" "SELECT count(*) FROM coverage_sample WHERE tech = 'NR' AND source = 'modem-1'" 2>/dev/null || echo 0; }
# one way along the route is 960 m: about 19 s at 50 m/s
wait_for 45 '[ "$(nr_samples)" -ge 40 ]' || fail "only $(nr_samples) NR samples from the modem in 45 s"
ok "$(nr_samples) NR samples from the modem"

# every sample in its cell: NR below -110 dBm exactly in the dead cells (2..4
# of row 2). The signal and the position are two AT commands apart: at 50 m/s
# a machine that stalls the modem's thread 0.5 s between them puts a sample
# up to 25 m from where its signal was, so a sample within 25 m of the dead
# zone's edges (x = 200 m and 500 m of the 1 km row) may fall either side.
sqlite3 -separator ' ' "$DB" "SELECT lat, lon, rsrp, operator FROM coverage_sample WHERE tech = 'NR'" > "$T/nr.txt"
awk -v w="$LONW" -v e="$LONE" -v s="$LATS" -v n="$LATN" '{
	ix = int(($2 - w) / (e - w) * 10); iy = int(($1 - s) / (n - s) * 8)
	x = ($2 - w) / (e - w) * 1000
	edge = (x > 175 && x < 225) || (x > 475 && x < 525)
	dead = ix >= 2 && ix <= 4 && iy == 2
	if (iy != 2) { print "sample off the route: " $0; bad++ }
	if (dead != ($3 < -110) && !edge) { print "signal " $3 " in cell " ix "," iy " (" int(x) " m)"; bad++ }
	if ($4 != "452-04") { print "operator " $4; bad++ }
	cells[ix] = 1
} END { for (c in cells) k++; if (k < 10) { print "only " k " cells visited"; bad++ } exit bad > 0 }' "$T/nr.txt" > "$T/cells.txt" \
	|| fail "samples in the wrong place: $(head -5 "$T/cells.txt")"
lte=$(sqlite3 "$DB" "SELECT count(*) FROM coverage_sample WHERE tech = 'LTE' AND rsrp = -95 AND operator = '452-04'")
[ "$lte" -ge 40 ] || fail "only $lte LTE samples at -95 dBm"
ok "NR signal matches the route's cells (dead zone in columns 2..4), LTE samples too ($lte), operator 452-04"
# the series is committed every batch_ms: wait for the store to catch up with the samples
wait_for 10 '[ "$(sample_count "$T/gw.conf" modem-1 nrRsrp)" -ge 40 ]' || fail "nrRsrp series missing"
ok "the modem's readings are an ordinary series (nrRsrp)"

"$WARDGW" coverage -c "$T/gw.conf" --geojson "$T/dead.geojson" > "$T/coverage.txt" 2>&1 || fail "coverage failed"
[ "$(jq -r '.coverage[] | select(.technology == "NR" and .operator == "452-04") | "\(.measured_cells)/\(.covered_cells)/\(.dead_spots)"' "$T/dead.geojson")" = 10/7/1 ] \
	|| fail "coverage from the modem: $(cat "$T/coverage.txt")"
[ "$(jq '.features[0].properties.cells' "$T/dead.geojson")" = 3 ] || fail "dead spot is not 3 cells"
ok "coverage from the drive: 10 cells measured, 7 covered (70 %), one 3-cell dead spot"

# back online, at info level (the first contact is logged at debug)
onlines() { grep -c 'info  device modem-1: online' "$T/gateway.log"; }

# the modem hangs: every command times out; three failures make it offline
kill -STOP "$MODEM_PID"
wait_until 20 grep -q 'device modem-1: offline: AT+QENG="servingcell": no final result within 150 ms' "$T/gateway.log" \
	|| fail "a hung modem did not go offline with the timeout as reason"
kill -CONT "$MODEM_PID"
wait_for 20 '[ "$(onlines)" -ge 1 ]' || fail "modem not back after SIGCONT"
ok "a hung modem goes offline (timeouts) and comes back"

# the modem disappears (pty closed) and returns
kill "$MODEM_PID"
wait_until 20 grep -Eq 'device modem-1: offline: .*(port closed|open .*ttyMODEM|Input/output error)' "$T/gateway.log" \
	|| fail "a vanished modem did not go offline with a reason"
before=$(nr_samples)
online_before=$(onlines)
start_modem
wait_for 20 '[ "$(onlines)" -gt "$online_before" ]' || fail "modem not back after it returned"
wait_for 20 '[ "$(nr_samples)" -gt "$before" ]' || fail "no samples after the modem returned"
ok "a modem that disappears goes offline and is polled again when it returns"
kill -0 "$GW_PID" || fail "gateway died"
