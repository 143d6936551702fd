#!/usr/bin/env bash
# Vietnamese for the people who run the ward: the vi catalogue is complete
# for the current sources (msgfmt --statistics, nothing untranslated or
# fuzzy), and `wardgw check` on a broken config under LANG=vi_VN.UTF-8 says
# what is wrong in Vietnamese, at FILE:LINE — whether or not the vi_VN
# locale is generated on this machine. Numbers keep their decimal point.
. "$(dirname "$0")/lib.sh"

stats=$(make -s -C "$ROOT" B="$B" po-check 2>&1) || fail "catalogue incomplete: $stats"
echo "$stats" | grep -q 'po/vi.po: [0-9]* translated messages\.$' || fail "po-check: $stats"
ok "po-check: $(echo "$stats" | sed 's/^ *//')"

cat > "$T/bad.conf" <<EOC
gateway = { id = "gw-test"; ward = "test"; lat = 11.837; lon = 106.993; data_dir = "$T/data"; };
mqtt = { uri = "tcp://127.0.0.1:1883"; };
profiles_dir = "$ROOT/config/profiles";
devices = (
  { name = "cab-001"; host = "127.0.0.1"; port = 502; profile = "lighting-cabinet";
    poll_interval_ms = 0; },
  { name = "cab-002"; host = "127.0.0.1"; port = 503; profile = "lighting-cabinet"; colour = "red"; }
);
kpis = ( { name = "x"; aggregate = "mean"; metric = "activePower"; window = "1h"; target = { op = ">="; value = 0.5; deadline = "soon"; }; } );
EOC
l_poll=$(grep -n 'poll_interval_ms = 0' "$T/bad.conf" | cut -d: -f1)
l_col=$(grep -n 'colour' "$T/bad.conf" | cut -d: -f1)
l_kpi=$(grep -n 'deadline = "soon"' "$T/bad.conf" | cut -d: -f1)
run_check() { env -u LANGUAGE -u LC_ALL -u LC_MESSAGES "$@" "$WARDGW" check -c "$T/bad.conf"; }

run_check LANG=vi_VN.UTF-8 > "$T/vi.txt" 2>&1 && fail "a broken config passed the check"
grep -qx "$T/bad.conf:$l_poll: poll_interval_ms phải nằm trong khoảng 100..86400000 (nhận được 0)" "$T/vi.txt" ||
	fail "no Vietnamese range error at $l_poll: $(cat "$T/vi.txt")"
grep -q "^$T/bad.conf:$l_col: khóa 'colour' không hợp lệ trong device" "$T/vi.txt" ||
	fail "no Vietnamese unknown-key error at $l_col: $(cat "$T/vi.txt")"
grep -qx "$T/bad.conf:$l_kpi: deadline phải là một ngày như \"2026-12-31\" (nhận được 'soon')" "$T/vi.txt" ||
	fail "no Vietnamese date error at $l_kpi: $(cat "$T/vi.txt")"
grep -qx "$T/bad.conf: cấu hình không hợp lệ" "$T/vi.txt" || fail "no Vietnamese verdict: $(cat "$T/vi.txt")"
locale -a 2>/dev/null | grep -qi '^vi_VN' && how="generated" || how="not generated here"
ok "LANG=vi_VN.UTF-8 ($how): $(sed -n 1p "$T/vi.txt")"

run_check LANG=C.UTF-8 > "$T/en.txt" 2>&1
grep -qx "$T/bad.conf:$l_poll: poll_interval_ms must be 100..86400000 (got 0)" "$T/en.txt" || fail "English under C.UTF-8: $(cat "$T/en.txt")"
run_check LANG=vi_VN.UTF-8 LC_MESSAGES=C > "$T/c.txt" 2>&1
grep -q "must be 100..86400000" "$T/c.txt" || fail "LC_MESSAGES=C did not give English: $(cat "$T/c.txt")"
run_check LANG=C.UTF-8 LANGUAGE=vi > "$T/lang.txt" 2>&1
grep -q "phải nằm trong khoảng" "$T/lang.txt" || fail "LANGUAGE=vi did not give Vietnamese: $(cat "$T/lang.txt")"
ok "C.UTF-8 and LC_MESSAGES=C: English; LANGUAGE=vi: Vietnamese"

# a good config: the summary in Vietnamese, numbers with a decimal point
sed -i -e 's/poll_interval_ms = 0;//' -e 's/colour = "red";//' -e 's/deadline = "soon";//' "$T/bad.conf"
run_check LANG=vi_VN.UTF-8 > "$T/ok.txt" 2>&1 || fail "the fixed config is refused: $(cat "$T/ok.txt")"
grep -q "^$T/bad.conf: hợp lệ: gateway gw-test, [0-9]* hồ sơ thiết bị, 2 thiết bị" "$T/ok.txt" || fail "summary: $(cat "$T/ok.txt")"
ok "a valid config: $(head -1 "$T/ok.txt" | sed "s|$T/||")"
