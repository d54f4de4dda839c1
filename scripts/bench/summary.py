#!/usr/bin/env python3
"""Summarises chat runs of one bench script: each line of RESULTS is 'LABEL JSON' (the JSON that
cordial-bench chat printed). Prints per label, in the order given, the medians of delivered
msg/s, p50, p99 and server CPU per 1000 messages (from the first message to the last delivery),
and each later label relative to the first. Usage: summary.py RESULTS "BASE NAME" LABEL..."""
import json
import statistics
import sys

results, base_name, labels = sys.argv[1], sys.argv[2], sys.argv[3:]
by = {}
for line in open(results):
    label, js = line.split(" ", 1)
    by.setdefault(label, []).append(json.loads(js)["result"])
base = None
for label in labels:
    runs = by[label]
    med = lambda f: statistics.median(f(r) for r in runs)
    rate = med(lambda r: r["delivered_per_sec"])
    cpu = med(lambda r: r["server_cpu_secs"] / max(1, r["delivered"]) * 1000)
    line = (f"{label}: delivered {rate:.0f} msg/s, p50 {med(lambda r: r['p50_ms']):.2f} ms, "
            f"p99 {med(lambda r: r['p99_ms']):.2f} ms, server CPU {cpu * 1000:.1f} ms per 1000 messages")
    if base is None:
        base = (rate, cpu)
    else:
        line += (f"  (throughput {rate / base[0]:.3f}x, server CPU per message "
                 f"{cpu / base[1]:.3f}x of {base_name})")
    print(line)
