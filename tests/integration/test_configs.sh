#!/usr/bin/env bash
# The shipped configs are valid; `wardgw check` reports every mistake of a
# broken one as FILE:LINE and exits 1.
. "$(dirname "$0")/lib.sh"

for c in config/gateway.conf config/example-field.conf; do
	out=$("$WARDGW" check -c "$ROOT/$c") || fail "$c is not valid: $out"
	echo "$out" | grep -q ': ok: gateway ' || fail "$c: summary line: $out"
	ok "$out"
done

mkdir -p "$T/profiles"
cat > "$T/profiles/bad.conf" <<'EOC'
profile = {
  name = "bad";
  registers = (
    { metric = "v"; table = "input"; address = 0; type = "u16"; order = "CDAB"; },
    { metric = "e"; table = "holdings"; address = 2; type = "u32"; }
  );
};
EOC
cat > "$T/gw.conf" <<'EOC'
gateway = { id = "x"; lat = 11.8; lon = 106.9; };
mqtt = { qos = 3; };
devices = (
  { name = "a"; host = "127.0.0.1"; profile = "bad"; pol_interval_ms = 5; },
  { name = "a"; host = "127.0.0.1"; profile = "nope"; }
);
EOC
"$WARDGW" check -c "$T/gw.conf" > "$T/out.txt" 2>&1 && fail "a broken config passed check"
cat "$T/out.txt"
expect() { grep -qF "$1" "$T/out.txt" || fail "missing error: $1"; }
expect "$T/gw.conf:2: qos must be 0..1 (got 3)"
expect "$T/gw.conf:4: unknown key 'pol_interval_ms' in device (did you mean 'poll_interval_ms'?)"
expect "$T/gw.conf:5: device name 'a' is used twice (also at line 4)"
expect "$T/gw.conf:5: device a: no profile named 'nope'"
expect "$T/profiles/bad.conf:4: order 'CDAB' does not fit a u16; use one of AB BA"
expect "$T/profiles/bad.conf:5: table must be coil, discrete, holding or input (got 'holdings')"
ok "all errors reported with file:line"

# the daemon refuses to start on it, too
"$WARDGW" run -c "$T/gw.conf" > "$T/run.txt" 2>&1 && fail "daemon started on a broken config"
grep -q 'not starting' "$T/run.txt" || fail "run did not say why"
ok "run refuses a broken config"
