#!/usr/bin/env bash
# wardgw-test: long (dpkg-buildpackage compiles the whole tree, two jobs at a time: started first, beside the others)
# The Debian package: `make deb` builds it with dpkg-buildpackage and lintian
# finds no error; installed with dpkg into a throw-away root it lays out the
# binary, wardgw(8), the unit (enabled, but skipped while gateway.conf is
# still the example), the sysusers file (the wardgw user is created), the
# conffiles (example config, profiles) and the vi catalogue; installed again
# over itself after the config was edited, the edit is kept.
. "$(dirname "$0")/lib.sh"

make -s -C "$ROOT" B="$B" deb > "$T/deb.log" 2>&1 || fail "make deb: $(tail -20 "$T/deb.log")"
V=$(sed -n 's/^#define WARDGW_VERSION "\(.*\)"/\1/p' "$ROOT/gateway/version.h")
DEB="$ROOT/$B/wardgw_${V}_$(dpkg --print-architecture).deb"
[ -f "$DEB" ] || fail "no $DEB"
grep -q '^E: ' "$T/deb.log" && fail "lintian errors: $(grep '^E: ' "$T/deb.log")"
lintian --suppress-tags initial-upload-closes-no-bugs "$DEB" > "$T/lintian.txt" 2>&1
grep -q '^E: ' "$T/lintian.txt" && fail "lintian: $(grep '^E: ' "$T/lintian.txt")"
ok "make deb: $(basename "$DEB") ($(stat -c %s "$DEB") bytes); lintian: no errors, $(grep -c '^W: ' "$T/lintian.txt") warnings"

dpkg-deb -e "$DEB" "$T/control"
for c in /etc/wardgw/gateway.conf /etc/wardgw/gateway.conf.example /etc/wardgw/profiles/lighting-cabinet.conf; do
	grep -qx "$c" "$T/control/conffiles" || fail "$c is not a conffile: $(cat "$T/control/conffiles")"
done
ok "conffiles: $(wc -l < "$T/control/conffiles") (the example config, the profiles)"

# a throw-away root with an empty dpkg database; maintainer scripts run
# outside it with DPKG_ROOT set (sysusers and deb-systemd-helper honour it)
R="$T/root"
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers" "$R/var/log" "$R/etc"
touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
inst() { dpkg --root="$R" --force-script-chrootless --force-depends --force-confold -i "$DEB" > "$T/dpkg.log" 2>&1 ||
	fail "dpkg -i: $(tail -5 "$T/dpkg.log")"; }
inst
dpkg --root="$R" -s wardgw | grep -qx 'Status: install ok installed' || fail "not installed: $(dpkg --root="$R" -s wardgw)"
for f in usr/bin/wardgw usr/share/man/man8/wardgw.8.gz lib/systemd/system/wardgw.service usr/lib/sysusers.d/wardgw.conf \
	 etc/wardgw/gateway.conf etc/wardgw/gateway.conf.example etc/wardgw/profiles/sdm120.conf \
	 usr/share/locale/vi/LC_MESSAGES/wardgw.mo usr/share/doc/wardgw/copyright; do
	[ -f "$R/$f" ] || fail "the package did not install /$f"
done
[ -x "$R/usr/bin/wardgw" ] || fail "/usr/bin/wardgw is not executable"
grep -q '^ExecStart=/usr/bin/wardgw run -c /etc/wardgw/gateway.conf$' "$R/lib/systemd/system/wardgw.service" || fail "unit ExecStart"
grep -q '^wardgw:x:[0-9]*:[0-9]*:.*:/var/lib/wardgw:' "$R/etc/passwd" || fail "no wardgw user: $(cat "$R/etc/passwd" 2>/dev/null)"
[ -L "$R/etc/systemd/system/multi-user.target.wants/wardgw.service" ] || fail "the service is not enabled"
ok "installed into a throw-away root: binary, man page, unit (enabled), sysusers (user wardgw created), config, profiles, vi catalogue"

# enabled but not started while the config is the example: the unit's ExecCondition
cond=$(sed -n "s/^ExecCondition=\/bin\/sh -c '\(.*\)'$/\1/p" "$R/lib/systemd/system/wardgw.service" | sed "s|/etc/|$R/etc/|g")
[ -n "$cond" ] || fail "the unit has no ExecCondition"
sh -c "$cond" && fail "the unit would start with the example config"
sed -i '1i # edited by the field office' "$R/etc/wardgw/gateway.conf"
sh -c "$cond" || fail "the unit would not start with an edited config"
ok "ExecCondition: skipped while gateway.conf is the example, runs once it is edited"

# the packaged binary, config and catalogue work together
# (beside it: profiles_dir is relative to the config file)
"$R/usr/bin/wardgw" check -c "$R/etc/wardgw/gateway.conf" > "$T/check.txt" 2>&1 || fail "the packaged config does not check: $(cat "$T/check.txt")"
sed 's/poll_interval_ms = [0-9]*/poll_interval_ms = 5/' "$R/etc/wardgw/gateway.conf" > "$R/etc/wardgw/bad.conf"
env -u LANGUAGE -u LC_ALL LANG=vi_VN.UTF-8 WARDGW_LOCALEDIR="$R/usr/share/locale" "$R/usr/bin/wardgw" check -c "$R/etc/wardgw/bad.conf" > "$T/vi.txt" 2>&1
grep -q "^$R/etc/wardgw/bad.conf:[0-9]*: poll_interval_ms phải nằm trong khoảng" "$T/vi.txt" || fail "the packaged catalogue: $(head -3 "$T/vi.txt")"
rm "$R/etc/wardgw/bad.conf"
ok "the packaged wardgw checks the packaged config; the packaged vi catalogue speaks: $(head -1 "$T/vi.txt" | sed "s|$R||")"

# installed again over itself: the edited conffile stays
inst
head -1 "$R/etc/wardgw/gateway.conf" | grep -q 'edited by the field office' || fail "the reinstall overwrote the edited gateway.conf"
[ ! -e "$R/etc/wardgw/gateway.conf.dpkg-new" ] && [ ! -e "$R/etc/wardgw/gateway.conf.dpkg-dist" ] || fail "dpkg left a .dpkg-new/.dpkg-dist"
dpkg --root="$R" -s wardgw | grep -qx 'Status: install ok installed' || fail "not installed after the reinstall"
ok "reinstalled over itself: the edited gateway.conf is kept"
