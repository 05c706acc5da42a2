#!/usr/bin/env python3
"""bench/latency.py KEY FILE...: p50 and p99 (nearest rank, ms) and the count of
the transactions in pgbench per-transaction logs (-l; the third field is the
latency in µs, from the scheduled start under -R).  Prints KEY.p50, KEY.p99 and
KEY.n as key<TAB>value lines for run.sh's and scale.sh's results."""
import math
import sys

key, files = sys.argv[1], sys.argv[2:]
lat = sorted(float(line.split()[2]) / 1000.0 for f in files for line in open(f) if line.strip())


def pct(p):
    if not lat:
        return float("nan")
    return lat[min(len(lat), max(1, math.ceil(p / 100.0 * len(lat)))) - 1]


print("%s.p50\t%.3f" % (key, pct(50)))
print("%s.p99\t%.3f" % (key, pct(99)))
print("%s.n\t%d" % (key, len(lat)))
