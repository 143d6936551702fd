#!/usr/bin/env bash
# Every driver reloads device by device. One gateway runs two RTU buses
# (two simulators, two units each), two access points (one hostapd
# simulator) and two modems (two simulators). Three reloads (SIGHUP) each
# change one device: a modem, then an RTU unit, then an AP. Each time the
# log says one device restarted and the rest kept running, and the
# positive evidence agrees: the gateway opened each serial port once (no
# "open" line added), each AP attached once (the simulator's ATTACH
# counter), each untouched modem started once; the simulators' served
# counters and the stored samples went on growing, with no gap longer than
# three poll intervals across the whole run for any device.
. "$(dirname "$0")/lib.sh"

MQ=$(free_port) CTLA=$(free_port) CTLB=$(free_port)
start_mosquitto "$MQ"
# bus A: the first simulator (start_sim); bus B: a second one
start_sim --rtu-pty "$T/ptyA" --cabinets 2 --sdm120 0 --dds238 0 --line 9600:8N1 --control "$CTLA"
"$SIM" --rtu-pty "$T/ptyB" --cabinets 2 --sdm120 0 --dds238 0 --line 9600:8N1 --control "$CTLB" > "$T/simB.log" 2>&1 &
PIDS="$PIDS $!"
wait_until 30 grep -q '^wardgw-sim: ready' "$T/simB.log" || fail "second RTU simulator not ready"
PTYA=$(cat "$T/ptyA") PTYB=$(cat "$T/ptyB")
[ -c "$PTYA" ] && [ -c "$PTYB" ] || fail "no ptys from the simulators ($PTYA, $PTYB)"
mkdir -p "$T/hap"
"$SIM" hostapd --dir "$T/hap" --aps 2 --clients 6 --step-ms 300 --churn-secs 2 --counters "$T/hap-counters.json" \
	> "$T/hostapd.log" 2>&1 &
PIDS="$PIDS $!"
wait_until 10 grep -q ready "$T/hostapd.log" || fail "hostapd simulator not ready"
for m in 1 2; do
	"$SIM" modem --link "$T/ttyMODEM$m" --speed 50 > "$T/modem$m.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_until 10 grep -q ready "$T/modem$m.log" || fail "modem simulator $m not ready"
done

# conf RTU_A1_TIMEOUT MODEM1_INTERVAL AP1_TIMEOUT
conf() {
	write_config "$T/gw.conf" "$MQ" "
  { name = \"rtu-a1\"; driver = \"modbus-rtu\"; serial = \"$PTYA\"; baud = 9600; unit = 1; profile = \"lighting-cabinet\";
    poll_interval_ms = 500; timeout_ms = $1; },
  { name = \"rtu-a2\"; driver = \"modbus-rtu\"; serial = \"$PTYA\"; baud = 9600; unit = 2; profile = \"lighting-cabinet\";
    poll_interval_ms = 500; timeout_ms = 300; },
  { name = \"rtu-b1\"; driver = \"modbus-rtu\"; serial = \"$PTYB\"; baud = 9600; unit = 1; profile = \"lighting-cabinet\";
    poll_interval_ms = 500; timeout_ms = 300; },
  { name = \"rtu-b2\"; driver = \"modbus-rtu\"; serial = \"$PTYB\"; baud = 9600; unit = 2; profile = \"lighting-cabinet\";
    poll_interval_ms = 500; timeout_ms = 300; },
  { name = \"ap-0\"; driver = \"hostapd\"; profile = \"wifi-ap\"; ctrl_path = \"$T/hap/wlan0\"; local_dir = \"$T\";
    poll_interval_ms = 1500; timeout_ms = 300; },
  { name = \"ap-1\"; driver = \"hostapd\"; profile = \"wifi-ap\"; ctrl_path = \"$T/hap/wlan1\"; local_dir = \"$T\";
    poll_interval_ms = 1500; timeout_ms = $3; },
  { name = \"modem-1\"; driver = \"modem\"; profile = \"cell-modem\"; port = \"$T/ttyMODEM1\";
    poll_interval_ms = $2; timeout_ms = 150; },
  { name = \"modem-2\"; driver = \"modem\"; profile = \"cell-modem\"; port = \"$T/ttyMODEM2\";
    poll_interval_ms = 500; timeout_ms = 150; }"
}
conf 300 500 300
start_gateway "$T/gw.conf"

metric_of() { case "$1" in rtu-*) echo lampsOn ;; ap-*) echo clients ;; *) echo registered ;; esac; }
ALL="rtu-a1 rtu-a2 rtu-b1 rtu-b2 ap-0 ap-1 modem-1 modem-2"
count() { sample_count "$T/gw.conf" "$1" "$(metric_of "$1")"; }
all_polled() {   # all_polled MIN: every device has more than MIN samples (or than its saved count)
	for d in $ALL; do
		local want=${2:-$1}
		[ -n "${SEEN[$d]:-}" ] && want=$((SEEN[$d] + $1))
		[ "$(count "$d")" -gt "$want" ] || return 1
	done
}
declare -A SEEN=()
wait_for 30 'all_polled 2' || fail "not every device polled: $(for d in $ALL; do printf '%s=%s ' "$d" "$(count "$d")"; done)"

opens() { grep -c "modbus-rtu $1 .*: open" "$T/gateway.log"; }
starts() { grep -c "$1: polling" "$T/gateway.log"; }
attaches() { jq -r ".aps[$1].attaches" "$T/hap-counters.json"; }
# ap_ran_on I: AP I attached once, or (a machine stalled past its timeout)
# reattached only after the gateway saw it fail: a reconnect, which a
# restart by a reload is not (the new worker's first poll works)
ap_ran_on() {
	[ "$(attaches "$1")" -eq 1 ] && return 0
	grep -q "device ap-$1: offline" "$T/gateway.log" && [ "$(starts "ap-$1")" -eq 1 ] &&
		echo "   (ap-$1 reconnected after a failed poll: $(grep "device ap-$1: offline" "$T/gateway.log" | head -1))"
}
served() { "$SIM" --ctl "$1" served "$2" | sed -n 's/^served=//p'; }
applied() { grep -c 'reload: config .* applied' "$T/gateway.log"; }

[ "$(opens "$PTYA")" -eq 1 ] && [ "$(opens "$PTYB")" -eq 1 ] || fail "each bus should have been opened once"
ap_ran_on 0 && ap_ran_on 1 || fail "each AP should have attached once: $(cat "$T/hap-counters.json")"
for d in modem-1 modem-2 ap-0 ap-1; do
	[ "$(starts "$d")" -eq 1 ] || fail "$d started $(starts "$d") times before any reload"
done

# reload N WHAT CONF_ARGS...: apply the config, wait for the reload's line
# (one device restarted, seven kept), then for every device to be polled
# again (the saved counts grow by two), and the served counters to grow.
reload() {
	local n=$1 what=$2
	shift 2
	for d in $ALL; do SEEN[$d]=$(count "$d"); done
	local sa1 sa2 sb1 sb2
	sa1=$(served "$CTLA" 0) sa2=$(served "$CTLA" 1) sb1=$(served "$CTLB" 0) sb2=$(served "$CTLB" 1)
	conf "$@"
	kill -HUP "$GW_PID"
	wait_for 10 '[ "$(applied)" -ge '"$n"' ]' || fail "reload $n ($what) not applied"
	grep 'reload: config .* applied' "$T/gateway.log" | sed -n "${n}p" | grep -q '7 devices kept running, 0 added, 0 removed, 1 restarted' \
		|| fail "reload $n ($what): $(grep 'reload: config .* applied' "$T/gateway.log" | sed -n "${n}p")"
	wait_for 15 'all_polled 2' || fail "after reload $n ($what) not every device polled again: $(for d in $ALL; do printf '%s=%s/%s ' "$d" "$(count "$d")" "${SEEN[$d]}"; done)"
	[ "$(served "$CTLA" 0)" -gt "$sa1" ] && [ "$(served "$CTLA" 1)" -gt "$sa2" ] &&
		[ "$(served "$CTLB" 0)" -gt "$sb1" ] && [ "$(served "$CTLB" 1)" -gt "$sb2" ] ||
		fail "after reload $n ($what) an RTU unit was not asked again"
}

# 1. one modem changes: it alone restarts
reload 1 "modem-1 interval" 300 600 300
[ "$(starts modem-1)" -eq 2 ] || fail "modem-1 was not restarted ($(starts modem-1) starts)"
[ "$(starts modem-2)" -eq 1 ] || fail "modem-2 was restarted by a reload that changed modem-1"
[ "$(opens "$PTYA")" -eq 1 ] && [ "$(opens "$PTYB")" -eq 1 ] || fail "an RTU bus was reopened by a modem reload"
ap_ran_on 0 && ap_ran_on 1 || fail "an AP reattached after a modem reload: $(cat "$T/hap-counters.json")"
[ "$(starts ap-0)" -eq 1 ] && [ "$(starts ap-1)" -eq 1 ] || fail "an AP was restarted by a modem reload"
ok "one modem changed: modem-1 restarted; both RTU buses (opened once), both APs (attached once) and modem-2 ran on"

# 2. one RTU unit changes: it restarts on its bus, which stays open
reload 2 "rtu-a1 timeout" 310 600 300
[ "$(opens "$PTYA")" -eq 1 ] || fail "bus A was reopened for a change of one of its units ($(opens "$PTYA") opens)"
[ "$(opens "$PTYB")" -eq 1 ] || fail "bus B was reopened by a reload of a unit on bus A"
ap_ran_on 0 && ap_ran_on 1 || fail "an AP reattached after an RTU reload: $(cat "$T/hap-counters.json")"
[ "$(starts modem-1)" -eq 2 ] && [ "$(starts modem-2)" -eq 1 ] || fail "a modem was restarted by an RTU reload"
ok "one RTU unit changed: rtu-a1 restarted on its bus; both buses stayed open (one open each), APs and modems ran on"

# 3. one AP changes: it alone reattaches
reload 3 "ap-1 timeout" 310 600 310
[ "$(starts ap-1)" -eq 2 ] && grep -q 'hostapd ap-1: stopped' "$T/gateway.log" || fail "ap-1 was not restarted"
[ "$(attaches 1)" -ge 2 ] || fail "ap-1 was restarted but did not attach again: $(cat "$T/hap-counters.json")"
ap_ran_on 0 || fail "ap-0 reattached after a reload that changed ap-1: $(cat "$T/hap-counters.json")"
[ "$(starts ap-0)" -eq 1 ] || fail "ap-0 was restarted by a reload that changed ap-1"
[ "$(opens "$PTYA")" -eq 1 ] && [ "$(opens "$PTYB")" -eq 1 ] || fail "an RTU bus was reopened by an AP reload"
[ "$(starts modem-1)" -eq 2 ] && [ "$(starts modem-2)" -eq 1 ] || fail "a modem was restarted by an AP reload"
ok "one AP changed: ap-1 restarted and reattached ($(attaches 1) ATTACH), ap-0 ran on ($(attaches 0) ATTACH); buses and modems ran on"

# polled throughout: no device's stored samples have a gap longer than
# three of its poll intervals from its first sample to now
gaps=""
for d in $ALL; do
	g=$("$WARDGW" query -c "$T/gw.conf" --device "$d" --metric "$(metric_of "$d")" --from -1d --format csv 2>/dev/null |
		awk -F, 'NR > 1 { if (p && $2 - p > m) m = $2 - p; p = $2 } END { print m + 0 }')
	gaps="$gaps $d=${g}ms"
	iv=500; [ "$d" = modem-1 ] && iv=600; case "$d" in ap-*) iv=1500 ;; esac
	[ "$g" -le $((3 * iv)) ] || fail "$d was not polled throughout: a gap of $g ms between two samples"
done
ok "polled throughout the three reloads, largest gap between samples:$gaps"
kill -0 "$GW_PID" || fail "gateway died"
