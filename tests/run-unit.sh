#!/usr/bin/env bash
# Runs every unit test binary given; prints one closing tally line.
set -u
pass=0 fail=0
for t in "$@"; do
	if "$t"; then
		pass=$((pass + 1))
	else
		echo "FAILED: $t" >&2
		fail=$((fail + 1))
	fi
done
# The include graph (scripts/include-graph.py, docs/architecture.md): no
# include circle may pass through the core (config, gateway, store,
# publisher, outbox).
root=$(cd "$(dirname "$0")/.." && pwd)
if graph=$(cd "$root" && python3 scripts/include-graph.py --check 2>&1); then
	pass=$((pass + 1))
else
	echo "$graph" >&2
	echo "FAILED: scripts/include-graph.py --check" >&2
	fail=$((fail + 1))
fi
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
