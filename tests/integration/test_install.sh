#!/usr/bin/env bash
# Installation and the systemd contract: `make install DESTDIR=` lays out
# the binary, wardgw(8), the unit, the user, the example config and the
# profiles (and keeps an edited config on a second install); the unit passes
# systemd-analyze verify; READY=1, WATCHDOG=1 (from the loop), RELOADING=1 and
# STOPPING=1 reach $NOTIFY_SOCKET.
. "$(dirname "$0")/lib.sh"

R="$T/root"
make -s -C "$ROOT" B="$B" install DESTDIR="$R" > "$T/install.log" 2>&1 || fail "make install: $(tail -5 "$T/install.log")"
for f in usr/local/bin/wardgw usr/local/share/man/man8/wardgw.8 usr/local/lib/systemd/system/wardgw.service \
	 usr/local/lib/sysusers.d/wardgw.conf etc/wardgw/gateway.conf etc/wardgw/gateway.conf.example \
	 etc/wardgw/profiles/lighting-cabinet.conf etc/wardgw/profiles/sdm120.conf; do
	[ -f "$R/$f" ] || fail "make install did not write /$f"
done
[ -x "$R/usr/local/bin/wardgw" ] && [ -d "$R/var/lib/wardgw" ] || fail "binary not executable or no /var/lib/wardgw"
[ "$(stat -c %a "$R/var/lib/wardgw")" = 750 ] || fail "/var/lib/wardgw is mode $(stat -c %a "$R/var/lib/wardgw")"
grep -q '^ExecStart=/usr/local/bin/wardgw run -c /etc/wardgw/gateway.conf$' "$R/usr/local/lib/systemd/system/wardgw.service" ||
	fail "unit ExecStart: $(grep ExecStart "$R/usr/local/lib/systemd/system/wardgw.service")"
"$R/usr/local/bin/wardgw" check -c "$R/etc/wardgw/gateway.conf" > "$T/check.txt" || fail "installed config: $(cat "$T/check.txt")"
ok "make install DESTDIR: binary, man page, unit, sysusers, config + profiles, /var/lib/wardgw; installed config checks"

echo '# edited by the field office' >> "$R/etc/wardgw/gateway.conf"
make -s -C "$ROOT" B="$B" install DESTDIR="$R" > "$T/install2.log" 2>&1 || fail "second make install"
grep -q 'edited by the field office' "$R/etc/wardgw/gateway.conf" || fail "a second install overwrote the config"
ok "a second install keeps the edited config ($(grep -c keeping "$T/install2.log") files kept)"

make -s -C "$ROOT" B="$B" install DESTDIR="$T/usr-root" PREFIX=/usr > /dev/null 2>&1 || fail "make install PREFIX=/usr"
grep -q '^ExecStart=/usr/bin/wardgw ' "$T/usr-root/usr/lib/systemd/system/wardgw.service" && [ -x "$T/usr-root/usr/bin/wardgw" ] ||
	fail "PREFIX=/usr not honoured"
ok "PREFIX=/usr: /usr/bin/wardgw, /usr/lib/systemd/system/wardgw.service"

if command -v man > /dev/null; then
	MANWIDTH=80 man -l "$R/usr/local/share/man/man8/wardgw.8" > "$T/man.txt" 2> "$T/man.err" || fail "man -l: $(cat "$T/man.err")"
	for s in SYNOPSIS COMMANDS CONFIGURATION SIGNALS FILES "EXIT STATUS"; do
		grep -q "^$s" "$T/man.txt" || fail "wardgw(8) has no $s section"
	done
	ok "man -l renders wardgw(8): $(wc -l < "$T/man.txt") lines, with SYNOPSIS, COMMANDS, CONFIGURATION, SIGNALS, FILES, EXIT STATUS"
else
	echo "   skip: man is not installed"
fi

if command -v systemd-analyze > /dev/null; then
	# the unit names its final paths; point them at this tree for verify
	sed "s|/usr/local/bin/wardgw|$R/usr/local/bin/wardgw|g" "$R/usr/local/lib/systemd/system/wardgw.service" > "$T/wardgw.service"
	systemd-analyze verify --man=no "$T/wardgw.service" > "$T/verify.txt" 2>&1 || fail "systemd-analyze verify: $(cat "$T/verify.txt")"
	[ ! -s "$T/verify.txt" ] || fail "systemd-analyze verify warns: $(cat "$T/verify.txt")"
	exposure=$(systemd-analyze security --offline=yes "$T/wardgw.service" 2>/dev/null | sed -n 's/.*Overall exposure level for wardgw.service: //p')
	ok "systemd-analyze verify: clean; security exposure ${exposure:-n/a}"
else
	echo "   skip: systemd-analyze is not installed (no systemd on this machine)"
fi

# the notify protocol, on a socket of our own
command -v socat > /dev/null || fail "socat is not installed"
MQ=$(free_port) BASE=$(free_port)
start_mosquitto "$MQ"
start_sim --base-port "$BASE" --cabinets 1 --sdm120 0 --dds238 0
write_config "$T/gw.conf" "$MQ" "{ name = \"cab\"; host = \"127.0.0.1\"; port = $BASE; profile = \"lighting-cabinet\"; }"
socat -u UNIX-RECV:"$T/notify.sock" - > "$T/notify.txt" 2> "$T/socat.log" &
PIDS="$PIDS $!"
wait_until 10 test -S "$T/notify.sock" || fail "socat did not bind"
NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=1000000 start_gateway "$T/gw.conf"
wait_until 20 grep -q 'READY=1' "$T/notify.txt" || fail "no READY=1: $(cat "$T/notify.txt")"
grep -q 'STATUS=polling 1 devices' "$T/notify.txt" || fail "no STATUS with READY"
wait_for 10 '[ "$(grep -o WATCHDOG=1 "$T/notify.txt" | wc -l)" -ge 4 ]' || fail "watchdog pings: $(grep -o WATCHDOG=1 "$T/notify.txt" | wc -l)"
# a stopped loop stops the pings (SIGSTOP freezes the process, as a hung
# loop would look). A frozen process gives no marker of its own: markers we
# send to the same socket show where the freeze began and ended in what
# socat read, and the window between them is 3 watchdog periods long.
mark() { # NAME: send it to the notify socket, wait until socat has written it
	echo "$1" | socat -u - UNIX-SENDTO:"$T/notify.sock" || fail "cannot send $1"
	wait_until 10 grep -q "$1" "$T/notify.txt" || fail "$1 not received"
}
kill -STOP "$GW_PID"
wait_for 10 '[ "$(cut -d" " -f3 < /proc/$GW_PID/stat)" = T ]' || fail "the gateway did not stop"
mark FROZEN-FROM
sleep 1.5   # the window itself (the process is stopped: nothing to wait for)
mark FROZEN-TO
kill -CONT "$GW_PID"
n=$(tr '\n' ' ' < "$T/notify.txt" | sed -n 's/.*FROZEN-FROM\(.*\)FROZEN-TO.*/\1/p' | grep -o WATCHDOG=1 | wc -l)
[ "$n" = 0 ] || fail "$n pings while the process was stopped"
n2=$(grep -o WATCHDOG=1 "$T/notify.txt" | wc -l)
wait_for 10 '[ "$(grep -o WATCHDOG=1 "$T/notify.txt" | wc -l)" -gt '"$n2"' ]' || fail "pings did not resume"
ok "READY=1 with STATUS, WATCHDOG=1 every WATCHDOG_USEC/2, none while the loop is frozen"
kill -HUP "$GW_PID"
wait_until 10 grep -q 'RELOADING=1' "$T/notify.txt" || fail "no RELOADING=1 on SIGHUP"
[ "$(grep -o 'READY=1' "$T/notify.txt" | wc -l)" -ge 2 ] || wait_for 10 '[ "$(grep -o READY=1 "$T/notify.txt" | wc -l)" -ge 2 ]' ||
	fail "no READY=1 after the reload"
stop_pid "$GW_PID"
wait_until 5 grep -q 'STOPPING=1' "$T/notify.txt" || fail "no STOPPING=1 on SIGTERM"
ok "SIGHUP: RELOADING=1 then READY=1; SIGTERM: STOPPING=1"

# under journald (JOURNAL_STREAM names our stderr) lines carry <N> priorities, no time stamp
"$WARDGW" check -c "$T/gw.conf" > /dev/null || fail "config"
: > "$T/journal.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/journal.log") "$WARDGW" run -c "$T/gw.conf" --run-secs 2 2>> "$T/journal.log"
grep -q '^<6>gateway gw-test: 1 devices' "$T/journal.log" || fail "no <6> info line: $(head -3 "$T/journal.log")"
grep -vq '^<[0-7]>' "$T/journal.log" && fail "a line without a priority: $(grep -v '^<[0-7]>' "$T/journal.log" | head -1)"
ok "JOURNAL_STREAM: every line starts with its syslog priority ($(wc -l < "$T/journal.log") lines)"
