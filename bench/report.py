#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Turn RESULT lines into results.tsv (iothreadd, floor, best peer per
metric), peers.tsv (every implementation) and a table on stdout.
MISSING bench metric unit why: the row's iothreadd is n/a, why printed
below the table.  NOTE bench metric text: printed below the table; a row
with a note and no peer says n/a for the best peer (none can have one)."""

import sys

raw, out = sys.argv[1], sys.argv[2]
rows = {}      # (bench, metric) -> {"unit", "iothreadd", "floor", peers{}}
order = []
notes = []     # [bench, metric, text]
HIGHER_IS_BETTER = ("items_per_s",)


def row(bench, metric, unit):
    key = (bench, metric)
    if key not in rows:
        rows[key] = {"unit": unit, "peers": {}, "range": {}}
        order.append(key)
    return rows[key]


for line in open(raw):
    f = line.rstrip("\n").split("\t")
    if f[0] == "MISSING":  # MISSING bench metric unit why: iothreadd n/a
        row(*f[1:4])["missing"] = f[4]
        continue
    if f[0] == "NOTE":  # NOTE bench metric text (no unit: the row has one)
        notes.append(f[1:4])
        continue
    if f[0] != "RESULT":
        continue
    _, bench, metric, unit, kind, impl, med, lo, hi = f
    r = row(bench, metric, unit)
    v = float(med)
    r["range"][impl] = (float(lo), float(hi))
    if kind == "iothreadd":
        r["iothreadd"] = v
        r["iothreadd_name"] = impl
    elif kind == "floor":
        r["floor"] = v
        r["floor_name"] = impl
    else:
        r["peers"][impl] = v


def best(metric, peers):
    if metric.startswith("lateness"):
        # A timer that fires early (libuv rounds to whole milliseconds)
        # breaks its contract; it is not the best of the lot.
        peers = {k: v for k, v in peers.items() if v >= 0}
    if not peers:
        return None, ""
    higher = metric.startswith(HIGHER_IS_BETTER) or metric.endswith("_iops")
    pick = max if higher else min
    name = pick(peers, key=peers.get)
    return peers[name], name


def fmt(v):
    return "-" if v is None else ("%.4g" % v)


def peer(key, r):
    """The best peer's figure and name; n/a when a note explains why a
    row has none."""
    bv, bn = best(key[1], r["peers"])
    if bv is None and any(n[:2] == list(key) for n in notes):
        return "n/a", ""
    return fmt(bv), bn


def mine(r):
    return "n/a" if "missing" in r and "iothreadd" not in r else fmt(
        r.get("iothreadd"))


with open(out + "/results.tsv", "w") as f, open(out + "/peers.tsv", "w") as p:
    f.write("bench\tmetric\tunit\tiothreadd\tfloor\tbest_peer\t"
            "best_peer_name\n")
    p.write("bench\tmetric\tunit\timplementation\tmedian\tp50_min\t"
            "p50_max\n")
    print("%-14s %-32s %-8s %12s %12s %12s %s" % (
        "bench", "metric", "unit", "iothreadd", "floor", "best peer",
        "(name)"))
    for key in order:
        r = rows[key]
        bv, bn = peer(key, r)
        f.write("%s\t%s\t%s\t%s\t%s\t%s\t%s\n" % (
            key[0], key[1], r["unit"], mine(r),
            fmt(r.get("floor")), bv, bn))
        for impl, (lo, hi) in r["range"].items():
            v = (r.get("iothreadd") if impl == r.get("iothreadd_name") else
                 r.get("floor") if impl == r.get("floor_name") else
                 r["peers"].get(impl))
            p.write("%s\t%s\t%s\t%s\t%s\t%s\t%s\n" % (
                key[0], key[1], r["unit"], impl, fmt(v), fmt(lo), fmt(hi)))
        print("%-14s %-32s %-8s %12s %12s %12s %s" % (
            key[0], key[1], r["unit"], mine(r),
            fmt(r.get("floor")), bv, bn))
for key in order:
    if "missing" in rows[key] and "iothreadd" not in rows[key]:
        print("%s %s: iothreadd n/a: %s" % (key[0], key[1],
                                            rows[key]["missing"]))
for bench, metric, text in notes:
    print("%s %s: %s" % (bench, metric, text))
