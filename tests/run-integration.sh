#!/usr/bin/env bash
# Runs every tests/integration/*.sh; each starts its own mosquitto, simulator
# and gateway on free loopback ports in its own temporary directory, so most
# of them run at the same time: JOBS at once (default: twice the number of
# CPUs, as most of a test's time is spent waiting on sockets, simulators
# and timers, not computing).
# Each test's output is kept aside and printed whole when it ends. Prints one
# closing tally line and the names of the tests that failed.
#
# A test says how it must be run with a line in its first 30 lines:
#   # wardgw-test: serial   run alone, after the others: it needs the whole
#                           machine, a namespace or a shared file (only the
#                           long tests below, which mostly wait, may still be
#                           running beside it)
#   # wardgw-test: long     takes long (waits for real time, or builds the
#                           Debian package): all of these start first and
#                           run beside the JOBS others (they take no slot),
#                           so that the suite is not longer than the longest
#                           of them plus the rest shared out
# JOBS=1 runs the tests one after the other, printing as they go.
set -u
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(( 2 * $(nproc 2>/dev/null || echo 1) ))}
case "$jobs" in '' | *[!0-9]* | 0) echo "JOBS must be a positive number, not '$jobs'" >&2; exit 2 ;; esac

mark() { head -n 30 "$1" | grep -q "^# wardgw-test:.*\b$2\b"; }

long="" rest="" serial=""
for t in ${TESTS:-tests/integration/test_*.sh}; do
	[ -e "$t" ] || continue
	if mark "$t" serial; then serial="$serial $t"
	elif mark "$t" long; then long="$long $t"
	else rest="$rest $t"
	fi
done

pass=0 fail=0 failed=""
tally() { # TEST RC
	if [ "$2" -eq 0 ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		failed="$failed $1"
	fi
}
verdict() { [ "$1" -eq 0 ] && echo "" || echo ", FAILED (exit $1)"; }

# one at a time, output as it comes
run_alone() { # TEST [NOTE]
	local t=$1 t0=$SECONDS rc
	echo "== $t${2:+ ($2)}"
	bash "$t"
	rc=$?
	tally "$t" "$rc"
	echo "   ($((SECONDS - t0)) s$(verdict "$rc"))"
}

OUT=$(mktemp -d "${TMPDIR:-/tmp}/wardgw-itest.XXXXXX")
declare -A name start outf slot
busy=0   # running tests that take a slot (all but the long ones)
stop_all() {
	for p in "${!name[@]}"; do kill "$p" 2>/dev/null; done
	wait
	rm -rf "$OUT"
	exit 130
}
trap stop_all INT TERM
trap 'rm -rf "$OUT"' EXIT

# a finished test: its output whole, then its time
reap() {
	local p rc
	wait -n -p p
	rc=$?
	[ -n "${p:-}" ] || return 1
	echo "== ${name[$p]}"
	cat "${outf[$p]}"
	tally "${name[$p]}" "$rc"
	echo "   ($((SECONDS - ${start[$p]})) s$(verdict "$rc"))"
	[ "${slot[$p]}" = 1 ] && busy=$((busy - 1))
	unset "name[$p]" "start[$p]" "outf[$p]" "slot[$p]"
}
start_test() { # TEST TAKES_A_SLOT
	i=$((i + 1))
	bash "$1" > "$OUT/$i.out" 2>&1 &
	name[$!]=$1 start[$!]=$SECONDS outf[$!]="$OUT/$i.out" slot[$!]=$2
	busy=$((busy + $2))
}

if [ "$jobs" -eq 1 ]; then
	for t in $long $rest; do run_alone "$t"; done
else
	i=0
	for t in $long; do start_test "$t" 0; done
	for t in $rest; do
		while [ "$busy" -ge "$jobs" ]; do reap || break; done
		start_test "$t" 1
	done
	# the serial ones once no other ordinary test runs
	while [ "$busy" -gt 0 ]; do reap || break; done
	for t in $serial; do
		start_test "$t" 1
		while [ "$busy" -gt 0 ]; do reap || break; done
	done
	while [ "${#name[@]}" -gt 0 ]; do reap || break; done
	serial=""
fi
for t in $serial; do run_alone "$t"; done

[ -z "$failed" ] || echo "failed:$failed" >&2
echo "integration: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
