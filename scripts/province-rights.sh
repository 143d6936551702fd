#!/usr/bin/env bash
# Generates the `authorization { users = [...] }` block of a nats-server
# (2.9, MQTT on JetStream) that gives every ward gateway of a province its
# own identity and rights (docs/province.md, "Identities and rights"):
#
#   gateway G  publishes only under   PREFIX/G/...   (not PREFIX/G/cmd/...)
#              subscribes only to     PREFIX/G/cmd/...
#   reader     subscribes to          PREFIX/#       and publishes nothing
#   commander  publishes to           PREFIX/+/cmd/... (optional)
#   G-ioc      the ward IOC of G: reads PREFIX/G/#, publishes PREFIX/G/cmd/...
#              (optional, when the list gives it a password)
#
# Usage: province-rights.sh [--prefix P] [--reader NAME SECRET]
#                           [--commander NAME SECRET] [--cost N] [--plain]
#                           GATEWAYS [OUT]
#
# GATEWAYS: one gateway a line, "ID SECRET [IOC_SECRET]"; '#' starts a
# comment. IOC_SECRET, when given, makes the user ID-ioc for the ward's own
# IOC. A SECRET is a file whose first line is the password when such a file
# exists (relative paths: to GATEWAYS' directory), otherwise the password
# itself. IDs are 1..64 of A-Z a-z 0-9 '-' '_' (no '.': nats-server 2.9
# refuses a '.' in an MQTT topic), each user once. Passwords are at least
# 12 characters and are
# written bcrypt-hashed (mkpasswd, Debian's whois package) with cost N
# (4..12, default 10: ~80 ms of the broker's CPU per MQTT connect, measured;
# docs/province.md, "Sizing") unless --plain.
# OUT (default stdout) is written mode 0600; include it from each node's
# config and reload the nodes (nats-server --signal reload=PID) after a
# change. Exit status 0, or 1 with the file:line of the first error.
set -eu

prefix=province reader="" reader_secret="" cmdr="" cmdr_secret="" plain=0 cost=10

die() { echo "province-rights: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--prefix) [ $# -ge 2 ] || die "--prefix needs a value"; prefix=$2; shift 2 ;;
	--reader) [ $# -ge 3 ] || die "--reader needs NAME SECRET"; reader=$2; reader_secret=$3; shift 3 ;;
	--commander) [ $# -ge 3 ] || die "--commander needs NAME SECRET"; cmdr=$2; cmdr_secret=$3; shift 3 ;;
	--plain) plain=1; shift ;;
	--cost) [ $# -ge 2 ] || die "--cost needs a value"; cost=$2; shift 2 ;;
	-h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	--) shift; break ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: province-rights.sh [--prefix P] [--reader NAME SECRET] [--commander NAME SECRET] [--cost N] [--plain] GATEWAYS [OUT]"
case $cost in 4|5|6|7|8|9|10|11|12) ;; *) die "--cost must be 4..12 (got '$cost')" ;; esac
gwfile=$1 out=${2:-}
[ -r "$gwfile" ] || die "$gwfile: cannot read the list of gateways"
gwdir=$(cd "$(dirname "$gwfile")" && pwd)

# The MQTT topic prefix as a NATS subject: '/' becomes '.'. Characters that
# nats 2.9 refuses in a topic, and MQTT wildcards, are refused here.
case $prefix in
''|/*|*/|*//*) die "--prefix '$prefix' must be 1..128 characters without a leading, trailing or double '/'" ;;
esac
[ ${#prefix} -le 128 ] || die "--prefix '$prefix' is longer than 128 characters"
printf '%s' "$prefix" | grep -Eq '^[A-Za-z0-9_/-]+$' ||
	die "--prefix '$prefix' may hold only A-Z a-z 0-9 '-' '_' '/' (no '.', ' ', '+', '#', '*', '>')"
subj=$(printf '%s' "$prefix" | tr / .)

valid_id() { printf '%s' "$1" | grep -Eq '^[A-Za-z0-9_-]{1,64}$'; }

# secret_of WHERE SECRET: the password (a file's first line, or the text)
secret_of() {
	local where=$1 s=$2 f pw
	f=$s
	case $f in /*) ;; *) f="$gwdir/$f" ;; esac
	if [ -f "$f" ]; then
		[ -r "$f" ] || die "$where: cannot read password file $f"
		IFS= read -r pw < "$f" || [ -n "${pw:-}" ] || die "$where: password file $f is empty"
	else
		pw=$s
	fi
	[ ${#pw} -ge 12 ] || die "$where: password must be at least 12 characters (got ${#pw})"
	case $pw in *'"'*|*'\'*) die "$where: password must not hold '\"' or '\\'" ;; esac
	printf '%s' "$pw"
}

# hashed PASSWORD: what goes into the config
hashed() {
	if [ $plain = 1 ]; then
		printf '%s' "$1"
		return
	fi
	command -v mkpasswd >/dev/null 2>&1 ||
		die "mkpasswd not found (apt-get install whois), or pass --plain to write passwords in clear"
	printf '%s' "$1" | mkpasswd -m bcrypt -R "$cost" -s
}

body=$(mktemp)
trap 'rm -f "$body"' EXIT
seen=" "
n=0 lineno=0
# MQTT QoS 1 subscriptions are delivered through JetStream consumers whose
# delivery subjects are $MQTT.sub.<random>: every user that subscribes with
# QoS 1 needs that right (FINDINGS.md). A filter ending in '#' subscribes to
# both X and X.> in NATS, so the reader needs both.
while IFS= read -r line || [ -n "$line" ]; do
	lineno=$((lineno + 1))
	line=${line%%#*}
	set -f
	set -- $line
	set +f
	[ $# -eq 0 ] && continue
	where="$gwfile:$lineno"
	[ $# -eq 2 ] || [ $# -eq 3 ] || die "$where: expected 'ID SECRET [IOC_SECRET]' (got $# fields)"
	valid_id "$1" || die "$where: gateway id '$1' must be 1..64 of A-Z a-z 0-9 '-' '_'"
	for u in "$1" ${3:+"$1-ioc"}; do
		case $seen in *" $u "*) die "$where: user '$u' is listed twice" ;; esac
		[ "$u" != "$reader" ] && [ "$u" != "$cmdr" ] || die "$where: user '$u' is also the reader or commander"
		seen="$seen$u "
	done
	pw=$(secret_of "$where" "$2")
	h=$(hashed "$pw")
	cat >> "$body" <<EOU
    { user: "$1", password: "$h",
      permissions: {
        publish:   { allow: ["$subj.$1.>"], deny: ["$subj.$1.cmd.>"] }
        subscribe: { allow: ["$subj.$1.cmd.>", "\$MQTT.sub.>"] }
      } }
EOU
	if [ $# -eq 3 ]; then
		h=$(hashed "$(secret_of "$where" "$3")")
		cat >> "$body" <<EOU
    { user: "$1-ioc", password: "$h",
      permissions: {
        publish:   { allow: ["$subj.$1.cmd.>"] }
        subscribe: { allow: ["$subj.$1", "$subj.$1.>", "\$MQTT.sub.>"] }
      } }
EOU
	fi
	n=$((n + 1))
done < "$gwfile"
[ $n -gt 0 ] || die "$gwfile: no gateways listed"

if [ -n "$reader" ]; then
	valid_id "$reader" || die "--reader '$reader' must be 1..64 of A-Z a-z 0-9 '-' '_'"
	h=$(hashed "$(secret_of "--reader" "$reader_secret")")
	cat >> "$body" <<EOU
    { user: "$reader", password: "$h",
      permissions: {
        publish:   { deny: [">"] }
        subscribe: { allow: ["$subj", "$subj.>", "\$MQTT.sub.>"] }
      } }
EOU
fi
if [ -n "$cmdr" ]; then
	valid_id "$cmdr" || die "--commander '$cmdr' must be 1..64 of A-Z a-z 0-9 '-' '_'"
	[ "$cmdr" != "$reader" ] || die "--commander and --reader must be different users"
	h=$(hashed "$(secret_of "--commander" "$cmdr_secret")")
	cat >> "$body" <<EOU
    { user: "$cmdr", password: "$h",
      permissions: {
        publish:   { allow: ["$subj.*.cmd.>"] }
        subscribe: { allow: ["$subj.*.cmd-result.>", "\$MQTT.sub.>"] }
      } }
EOU
fi

emit() {
	echo "# generated by scripts/province-rights.sh from $gwfile: $n gateways, prefix '$prefix'"
	echo "# (MQTT topic $prefix/<id>/... is NATS subject $subj.<id>....); do not edit, regenerate"
	echo "authorization {"
	echo "  users = ["
	cat "$body"
	echo "  ]"
	echo "}"
}
if [ -n "$out" ]; then
	(umask 077; emit > "$out.tmp")
	mv "$out.tmp" "$out"
else
	emit
fi
