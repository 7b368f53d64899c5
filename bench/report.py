#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Turn RESULT lines into results.tsv (iothreadd, floor, best peer per
metric), peers.tsv (every implementation) and a table on stdout."""

import sys

raw, out = sys.argv[1], sys.argv[2]
rows = {}      # (bench, metric) -> {"unit", "iothreadd", "floor", peers{}}
order = []
HIGHER_IS_BETTER = ("items_per_s",)

for line in open(raw):
    f = line.rstrip("\n").split("\t")
    if f[0] != "RESULT":
        continue
    _, bench, metric, unit, kind, impl, med, lo, hi = f
    key = (bench, metric)
    if key not in rows:
        rows[key] = {"unit": unit, "peers": {}, "range": {}}
        order.append(key)
    r = rows[key]
    v = float(med)
    r["range"][impl] = (float(lo), float(hi))
    if kind == "iothreadd":
        r["iothreadd"] = v
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
    pick = (max if metric.startswith(HIGHER_IS_BETTER) or
            metric.endswith("_iops") else min)
    name = pick(peers, key=peers.get)
    return peers[name], name


def fmt(v):
    return "-" if v is None else ("%.4g" % v)


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
        bv, bn = best(key[1], r["peers"])
        f.write("%s\t%s\t%s\t%s\t%s\t%s\t%s\n" % (
            key[0], key[1], r["unit"], fmt(r.get("iothreadd")),
            fmt(r.get("floor")), fmt(bv), bn))
        for impl, (lo, hi) in r["range"].items():
            v = (r.get("iothreadd") if impl == "iothreadd" else
                 r.get("floor") if impl == r.get("floor_name") else
                 r["peers"].get(impl))
            p.write("%s\t%s\t%s\t%s\t%s\t%s\t%s\n" % (
                key[0], key[1], r["unit"], impl, fmt(v), fmt(lo), fmt(hi)))
        print("%-14s %-32s %-8s %12s %12s %12s %s" % (
            key[0], key[1], r["unit"], fmt(r.get("iothreadd")),
            fmt(r.get("floor")), fmt(bv), bn))
