#!/usr/bin/env python3
"""What reached the provincial reader, per gateway (scripts/province.sh report).

For each gateway gw-I under DIR, what it stored: the KPI windows of its
kpi_value table (kpi, seq), its polls (`wardgw query --all`: one telemetry
pack per device and poll time) and what still waits in its outbox (stored,
not yet acknowledged: not lost). Against what the reader wrote to
DIR/reader.txt (mosquitto_sub -v: "TOPIC PAYLOAD" a line): KPI packs by
(kpi, seq), telemetry packs by (device, time). Telemetry is not copied into
the outbox table: what the cluster's link still owes is the commit log after
its cursor (meta outbox_tcur:<link>, docs/storage.md), read here as the
gateway's store writes it; those polls are pending, not missing. Prints a
table, or JSON with --json; exits 1 when something stored is neither at the
reader nor owed (missing), 0 otherwise. Standard library only.
"""
import argparse
import collections
import json
import os
import sqlite3
import subprocess
import sys


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v.strip('"')
    return env


def pack_key(kind, payload):
    """(what, id) of a KPI or telemetry pack; None when it is not one."""
    try:
        recs = json.loads(payload)
    except (ValueError, TypeError):
        return None
    if not isinstance(recs, list) or not recs or not isinstance(recs[0], dict):
        return None
    base = recs[0]
    if kind == "kpi":
        name = base.get("n")
        for r in recs[1:]:
            if isinstance(r, dict) and r.get("n") == "%s/seq" % name and isinstance(r.get("v"), (int, float)):
                return (name, int(r["v"]))
        return None
    if kind == "telemetry":
        bn, bt = base.get("bn", ""), base.get("bt")
        if not isinstance(bt, (int, float)) or not isinstance(bn, str):
            return None
        parts = bn.rstrip(":").split(":")
        return (parts[-1] if parts else "?", int(round(bt * 1000)))
    return None


def received(path, prefix):
    """{gateway: {"kpi": Counter, "telemetry": Counter, "other": n, "bad": n}}"""
    got = collections.defaultdict(lambda: {"kpi": collections.Counter(), "telemetry": collections.Counter(),
                                           "other": 0, "bad": 0})
    if not os.path.exists(path):
        return got
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            topic, _, payload = line.partition(" ")
            levels = topic.split("/")
            if len(levels) < 3 or levels[0] != prefix:
                continue
            g = got[levels[1]]
            kind = levels[2]
            if kind in ("kpi", "telemetry"):
                k = pack_key(kind, payload)
                if k is None:
                    g["bad"] += 1
                else:
                    g[kind][k] += 1
            else:
                g["other"] += 1
    return got


def varint(b, i):
    """(value, next index) of the LEB128 varint at b[i]; ValueError past the end."""
    r, shift = 0, 0
    while shift < 64:
        if i >= len(b):
            raise ValueError("cut short")
        c = b[i]
        i += 1
        r |= (c & 0x7F) << shift
        if not c & 0x80:
            return r, i
        shift += 7
    raise ValueError("varint too long")


def unzz(z):
    return (z >> 1) ^ -(z & 1)


def log_samples(rec):
    """(series, ts ms) of each sample of a commit log record (gateway/store.c
    store_log_walk, version 1); ValueError when it is not one."""
    if not rec or rec[0] != 1:
        raise ValueError("not a version 1 record")
    count, i = varint(rec, 1)
    series, ts = 0, 0
    for _ in range(count):
        h, i = varint(rec, i)
        series += unzz(h >> 2) + 1
        if h & 2:
            x, i = varint(rec, i)
            ts += unzz(x)
        if h & 1:
            i += 1
        x, i = varint(rec, i)
        if x == 0:
            i += 8          # a double as it is
        elif not 1 <= (x & 7) <= 6:
            raise ValueError("bad value kind")
        if i > len(rec):
            raise ValueError("cut short")
        yield series, ts


def owed(con, link):
    """(device, poll ms) of the telemetry link @link still owes: the samples
    of the commit log records after its cursor, one pack per device and poll."""
    row = con.execute("SELECT value FROM meta WHERE key = ?", ("outbox_tcur:" + link,)).fetchone()
    if row is None:
        return set()
    dev = dict(con.execute("SELECT m.id, d.name FROM metric m JOIN device d ON d.id = m.device_id"))
    out = set()
    for (rec,) in con.execute("SELECT data FROM headlog WHERE id > ? ORDER BY id", (row[0],)):
        try:
            for series, ts in log_samples(bytes(rec)):
                if series in dev:
                    out.add((dev[series], ts))
        except ValueError:
            continue
    return out


def stored(gwdir, wardgw, link):
    """What gateway gwdir stored: KPI windows, polls, and its outbox."""
    db = os.path.join(gwdir, "data", "wardgw.db")
    out = {"kpi": set(), "telemetry": set(), "pending": {"kpi": set(), "telemetry": set()}}
    if not os.path.exists(db):
        return out
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        for kpi, seq in con.execute("SELECT kpi, seq FROM kpi_value"):
            out["kpi"].add((kpi, int(seq)))
        for topic, payload in con.execute("SELECT topic, payload FROM outbox"):
            kind = topic.split("/")[2] if topic.count("/") >= 2 else ""
            if kind in ("kpi", "telemetry"):
                if isinstance(payload, bytes):
                    payload = payload.decode("utf-8", "replace")
                k = pack_key(kind, payload)
                if k:
                    out["pending"][kind].add(k)
        out["pending"]["telemetry"] |= owed(con, link)
    finally:
        con.close()
    q = subprocess.run([wardgw, "query", "-c", os.path.join(gwdir, "gateway.conf"), "--all"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False)
    for line in q.stdout.splitlines()[1:]:
        f = line.split(",")
        if len(f) >= 3 and f[2].isdigit():
            out["telemetry"].add((f[0], int(f[2])))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--wardgw", default="build/wardgw")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    env = read_env(os.path.join(a.dir, "province.env"))
    cenv = read_env(os.path.join(a.dir, "c", "cluster.env"))
    prefix = cenv.get("PREFIX", "province")
    n = int(env["N"])
    got = received(os.path.join(a.dir, "reader.txt"), prefix)
    rows, total = [], collections.Counter()
    for i in range(1, n + 1):
        gw = "gw-%d" % i
        # the cluster's link (PLINK: "province" beside a ward broker, else "ioc")
        st = stored(os.path.join(a.dir, gw), a.wardgw, env.get("PLINK", "ioc"))
        g = got[gw]
        row = {"gateway": gw}
        for kind in ("kpi", "telemetry"):
            rc = g[kind]
            recv = set(rc)
            pending = st["pending"][kind] - recv
            missing = st[kind] - recv - pending
            row[kind] = {
                "stored": len(st[kind]), "received": len(recv), "duplicates": sum(v - 1 for v in rc.values()),
                "pending": len(pending), "missing": len(missing),
                "unknown": len(recv - st[kind]),
                "missing_ids": sorted(missing)[:10],
            }
            for k in ("stored", "received", "duplicates", "pending", "missing", "unknown"):
                total[kind + "_" + k] += row[kind][k]
        seqs = collections.defaultdict(list)
        for name, seq in g["kpi"]:
            seqs[name].append(seq)
        row["kpi_seq"] = {name: [min(v), max(v)] for name, v in sorted(seqs.items())}
        row["other"] = g["other"]
        row["bad"] = g["bad"]
        rows.append(row)
    if a.json:
        json.dump({"gateways": rows, "total": dict(total)}, sys.stdout, indent=1, default=list)
        print()
    else:
        print("%-8s %-40s %-44s %s" % ("gateway", "KPI windows: stored recv dup pend MISS",
                                       "telemetry packs: stored recv dup pend MISS", "KPI seq ranges"))
        for r in rows:
            k, t = r["kpi"], r["telemetry"]
            print("%-8s %-40s %-44s %s" % (
                r["gateway"],
                "%6d %5d %4d %4d %4d" % (k["stored"], k["received"], k["duplicates"], k["pending"], k["missing"]),
                "%6d %5d %4d %4d %4d" % (t["stored"], t["received"], t["duplicates"], t["pending"], t["missing"]),
                " ".join("%s:%d-%d" % (nm.split(".")[-1], lo, hi) for nm, (lo, hi) in r["kpi_seq"].items())))
            for kind in ("kpi", "telemetry"):
                if r[kind]["missing"]:
                    print("    missing %s: %s" % (kind, r[kind]["missing_ids"]))
                if r[kind]["unknown"]:
                    print("    %d %s packs at the reader that %s did not store" % (r[kind]["unknown"], kind, r["gateway"]))
        print("%-8s %-40s %-44s" % (
            "total", "%6d %5d %4d %4d %4d" % tuple(total["kpi_" + k] for k in
                                                  ("stored", "received", "duplicates", "pending", "missing")),
            "%6d %5d %4d %4d %4d" % tuple(total["telemetry_" + k] for k in
                                          ("stored", "received", "duplicates", "pending", "missing"))))
    return 1 if total["kpi_missing"] or total["telemetry_missing"] else 0


if __name__ == "__main__":
    sys.exit(main())
