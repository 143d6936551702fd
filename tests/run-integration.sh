#!/usr/bin/env bash
# Runs every tests/integration/*.sh; each starts its own mosquitto, simulator
# and gateway on free loopback ports. Prints one closing tally line.
set -u
cd "$(dirname "$0")/.."
pass=0 fail=0 failed=""
for t in ${TESTS:-tests/integration/test_*.sh}; do
	[ -e "$t" ] || continue
	echo "== $t"
	t0=$SECONDS
	if bash "$t"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		failed="$failed $t"
	fi
	echo "   ($((SECONDS - t0)) s)"
done
[ -z "$failed" ] || echo "failed:$failed" >&2
echo "integration: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
