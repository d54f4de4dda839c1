#!/usr/bin/env python3
"""Turns bench-results/<date>/raw/*-nN-kK.json into results-nN-kK.json, results-nN-kK.md (ratios relative to
cordial) and chart-nN-kK.svg. Standard library only. Usage: report.py DIR N K"""
import glob
import json
import os
import sys

out, n, k = sys.argv[1], sys.argv[2], sys.argv[3]
runs = []
for p in sorted(glob.glob(os.path.join(out, "raw", f"*-n{n}-k{k}.json"))):
    try:
        runs.append(json.load(open(p)))
    except ValueError:
        print(f"skipping unreadable {p}", file=sys.stderr)
probes = [r for r in runs if r.get("scenario") == "probe"]
runs = [r for r in runs if r.get("scenario") != "probe"]
unsupported = [r for r in runs if r.get("unsupported")]
failures = [r for r in runs if r.get("error")]
runs = [r for r in runs if not r.get("error") and not r.get("unsupported") and r.get("result")]
by = {}
for r in runs:
    by.setdefault(r["scenario"] + ("" if r["scenario"] != "roster" else str(r["result"].get("k", ""))), {})[r["server"]] = r


def roster_metrics(items):
    """The roster scenario's metrics, for a roster of ITEMS items."""
    return [
        (f"roster get ({items} items) p50", lambda r: r["result"]["get_p50_ms"], "ms", False),
        ("roster sets/s", lambda r: r["result"]["sets_per_sec"], "", True),
    ]


# (label, how to compute from a run, unit, higher is better)
METRICS = {
    "chat": [
        ("delivered msg/s", lambda r: r["result"]["delivered_per_sec"], "", True),
        ("p50 latency", lambda r: r["result"]["p50_ms"], "ms", False),
        ("p99 latency", lambda r: r["result"]["p99_ms"], "ms", False),
        ("server CPU", lambda r: r["cpu_secs"], "s", False),
        ("server CPU per 1000 messages", lambda r: r["result"]["server_cpu_secs"] * 1e6 / max(1, r["result"]["delivered"]), "ms", False),
        ("server RSS peak", lambda r: r["rss_peak_kib"] / 1024, "MiB", False),
    ],
    "idle": [
        ("sessions", lambda r: r["result"]["sessions"], "", True),
        ("RSS per session", lambda r: (r["rss_loaded_kib"] - r["rss_before_kib"]) * 1024 / max(1, r["result"]["sessions"]) / 1024, "KiB", False),
        ("RSS with all sessions", lambda r: r["rss_loaded_kib"] / 1024, "MiB", False),
        ("time to log all in", lambda r: r["result"]["login_secs"], "s", False),
        ("server CPU per login (logging all in)", lambda r: r["result"]["server_cpu_ms_per_login"], "ms", False),
    ],
    "login": [
        ("logins/s", lambda r: r["result"]["logins_per_sec"], "", True),
        ("server CPU per login", lambda r: r["result"]["server_cpu_ms_per_login"], "ms", False),
        ("p50 login time", lambda r: r["result"]["p50_ms"], "ms", False),
        ("p99 login time", lambda r: r["result"]["p99_ms"], "ms", False),
        ("failed logins", lambda r: r["result"]["failed"], "", False),
        ("server CPU", lambda r: r["cpu_secs"], "s", False),
    ],
    "roster1000": roster_metrics(1000),
    "presence": [
        ("presence delivered/s (flood)", lambda r: r["result"]["flood_delivered_per_sec"], "", True),
        ("flood p99 latency", lambda r: r["result"]["flood_p99_ms"], "ms", False),
        ("hub fan-out to all contacts, p50", lambda r: r["result"]["fanout_p50_ms"], "ms", False),
        ("hub fan-out rate", lambda r: r["result"]["fanout_per_sec"], "/s", True),
        ("server CPU per hub fan-out", lambda r: r["result"]["fanout_server_cpu_ms"], "ms", False),
        ("server CPU per presence delivered (flood)", lambda r: r["result"]["flood_server_cpu_us_per_delivery"], "µs", False),
        ("presence delivered/s (login churn)", lambda r: r["result"]["churn_presences_per_sec"], "", True),
        ("login/logout cycles/s", lambda r: r["result"]["churn_cycles_per_sec"], "", True),
        ("server CPU per login/logout cycle", lambda r: r["result"]["churn_server_cpu_ms_per_cycle"], "ms", False),
        ("server CPU", lambda r: r["cpu_secs"], "s", False),
    ],
    "roster10000": roster_metrics(10000),
}
SERVERS = ["cordial", "prosody", "ejabberd"]

table = {}
md = [f"# cordial vs Prosody vs ejabberd, N = {n}, K = {k}", "",
      "Ratios are relative to cordial in the same run (for 'higher is better' metrics, "
      "cordial/other; for 'lower is better', other/cordial — so > 1 means cordial is ahead).", ""]
mechs = sorted({r.get("mechanism") for r in runs + unsupported if r.get("mechanism")})
if mechs:
    md += ["SASL mechanism: " + ", ".join(mechs) + ".", ""]
conns = {}
for r in runs:
    t = r.get("tls")
    if t:
        c = conns.setdefault(r["server"], {})
        for key in ("mode", "version", "cipher", "channel_binding"):
            if t.get(key):
                c[key] = t[key]
if conns:
    md += ["| server | TLS | version | cipher | channel binding |", "|---|---|---|---|---|"]
    for srv in SERVERS:
        if srv in conns:
            c = conns[srv]
            md.append(f"| {srv} | {c.get('mode', '—')} | {c.get('version', '—')} | {c.get('cipher', '—')} | {c.get('channel_binding', '—')} |")
    md.append("")
if os.environ.get("PIN"):
    server_cpus, bench_cpus = os.environ["PIN"].split("/")
    md += [f"Pinned with taskset: each server on CPU {server_cpus}, the load generator on CPU {bench_cpus}.", ""]
for scen, metrics in METRICS.items():
    if scen not in by:
        continue
    runs_s = by[scen]
    present = [s for s in SERVERS if s in runs_s]
    md.append(f"## {scen}")
    md.append("")
    # Ratios need cordial's figure (it may be unsupported in this run).
    others = [s for s in present if s != "cordial"] if "cordial" in present else []
    md.append("| " + " | ".join(["metric"] + present + [f"cordial ahead of {s} (x)" for s in others]) + " |")
    md.append("|---" * (1 + len(present) + len(others)) + "|")
    for label, f, unit, higher in metrics:
        vals = {}
        for s in present:
            try:
                vals[s] = f(runs_s[s])
            except (KeyError, TypeError, ZeroDivisionError):
                vals[s] = None
        table.setdefault(scen, {})[label] = vals
        cells = [("—" if vals[s] is None else f"{vals[s]:.3g} {unit}".strip()) for s in present]
        ratios = []
        c = vals.get("cordial")
        for s in others:
            v = vals[s]
            if c is None or v is None or c == 0 or v == 0:
                ratios.append("—")
            else:
                ratios.append(f"{(c / v) if higher else (v / c):.2f}")
        md.append("| " + " | ".join([label] + cells + ratios) + " |")
    md.append("")

if unsupported:
    md.append("## Not supported in this run")
    md.append("")
    seen = set()
    for u in unsupported:
        if u["server"] not in seen:
            seen.add(u["server"])
            md.append(f"- {u['server']}: {u['unsupported']}")
    md.append("")

if failures:
    md.append("## Runs that failed")
    md.append("")
    for f in failures:
        md.append(f"- {f['server']} / {f['scenario']}: {f['error']}")
    md.append("")

json.dump({"n": int(n), "k": int(k), "runs": runs, "failures": failures, "unsupported": unsupported, "probes": probes, "table": table}, open(os.path.join(out, f"results-n{n}-k{k}.json"), "w"), indent=2)
open(os.path.join(out, f"results-n{n}-k{k}.md"), "w").write("\n".join(md) + "\n")

# chart-nN-kK.svg: one panel per headline metric, a bar per server.
panels = [("chat", "delivered msg/s"), ("chat", "p99 latency"), ("idle", "RSS per session"), ("login", "logins/s"), ("login", "server CPU per login"), ("roster1000", "roster get (1000 items) p50"), ("presence", "presence delivered/s (flood)"), ("presence", "hub fan-out to all contacts, p50")]
panels = [(s, m) for s, m in panels if s in table and m in table[s]]
colors = {"cordial": "#2b8a3e", "prosody": "#1971c2", "ejabberd": "#e8590c"}
W, H, pad = 260, 220, 40
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W * max(1, len(panels))}" height="{H + 40}" font-family="sans-serif" font-size="11">']
for i, (scen, metric) in enumerate(panels):
    vals = {s: v for s, v in table[scen][metric].items() if v is not None}
    x0 = i * W
    svg.append(f'<text x="{x0 + W / 2}" y="16" text-anchor="middle" font-weight="bold">{scen}: {metric}</text>')
    top = max(vals.values()) if vals else 1
    bw = (W - 2 * pad) / max(1, len(vals))
    for j, (s, v) in enumerate(vals.items()):
        h = 0 if top == 0 else (H - 60) * v / top
        x = x0 + pad + j * bw
        y = H - h
        svg.append(f'<rect x="{x + 4}" y="{y}" width="{bw - 8}" height="{h}" fill="{colors.get(s, "#888")}"/>')
        svg.append(f'<text x="{x + bw / 2}" y="{y - 4}" text-anchor="middle">{v:.3g}</text>')
        svg.append(f'<text x="{x + bw / 2}" y="{H + 16}" text-anchor="middle">{s}</text>')
svg.append("</svg>")
open(os.path.join(out, f"chart-n{n}-k{k}.svg"), "w").write("\n".join(svg) + "\n")
print("\n".join(md))
