#!/usr/bin/env bash
# What privacy lists cost the chat path: the chat scenario against one cordial server, without
# lists and with every user holding an active ITEMS-item list (none of its items match, so every
# message is checked against the whole list), alternated ROUNDS times in one run.
#
#   scripts/bench/privacy_cost.sh [N] [RATE] [ITEMS] [ROUNDS]   defaults: 1000 30000 100 2
#
# Prints each run's JSON and a summary line per mode (delivered msg/s, p50, p99 and server CPU
# per 1000 messages during the chat itself, medians over the rounds). Starts its own server on a free loopback port and
# a temporary data dir, and stops it by PID.
set -euo pipefail
n=${1:-1000}
rate=${2:-30000}
items=${3:-100}
rounds=${4:-2}
duration=${DURATION:-10}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
cargo build -q --release -p cordial -p cordial-bench
. "$here/lib.sh"
data=$(mktemp -d)
port=$(free_port)
cordial_toml "$data" "$port" false
ulimit -n "$(ulimit -Hn)"
RUST_LOG=warn "$root/target/release/cordial" serve --config "$data/cordial.toml" >"$data/server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 100); do ss -ltn | grep -q "127.0.0.1:$port " && break; sleep 0.1; done
bench() { "$root/target/release/cordial-bench" --port "$port" --server-pid "$pid" "$@"; }
bench register -n "$n" >/dev/null
results="$data/results"
: >"$results"
for round in $(seq "$rounds"); do
  for mode in 0 "$items"; do
    out=$(bench --label "items=$mode" chat -n "$n" --rate "$rate" --duration "$duration" --privacy-items "$mode")
    echo "$out"
    echo "$mode $out" >>"$results"
  done
done
python3 - "$results" <<'PY'
import json, statistics, sys
by = {}
for line in open(sys.argv[1]):
    mode, js = line.split(" ", 1)
    r = json.loads(js)["result"]
    # Server CPU from the first message sent to the last delivery (logins and list setup excluded).
    by.setdefault(int(mode), []).append((r, r["server_cpu_secs"]))
base = None
for mode in sorted(by):
    runs = by[mode]
    med = lambda f: statistics.median(f(r, c) for r, c in runs)
    rate = med(lambda r, c: r["delivered_per_sec"])
    cpu_per_k = med(lambda r, c: c / max(1, r["delivered"]) * 1000)
    line = (f"items={mode}: delivered {rate:.0f} msg/s, p50 {med(lambda r, c: r['p50_ms']):.2f} ms, "
            f"p99 {med(lambda r, c: r['p99_ms']):.2f} ms, server CPU {cpu_per_k * 1000:.1f} ms per 1000 messages")
    if base is None:
        base = (rate, cpu_per_k)
    else:
        line += f"  (throughput {rate / base[0]:.3f}x, CPU per message {cpu_per_k / base[1]:.3f}x of no lists)"
    print(line)
PY
