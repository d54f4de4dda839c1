#!/usr/bin/env bash
# A/B: the chat scenario against two cordial binaries (a baseline build and this one), each on
# its own fresh data dir, alternated ROUNDS times in one run, for before/after figures of a change.
#
#   scripts/bench/ab.sh BASELINE_BINARY [N] [RATE] [ROUNDS]   defaults: 1000 100000 2
#   env: DURATION (s, default 10)
#
# Build the baseline from another commit with, e.g.:
#   git worktree add /tmp/base <commit> && (cd /tmp/base && cargo build --release -p cordial)
# Prints each run's JSON and, per binary, the medians of delivered msg/s, p50, p99 and server
# CPU per 1000 messages, with this build relative to the baseline.
set -euo pipefail
base_bin=$(realpath "$1")
n=${2:-1000}
rate=${3:-100000}
rounds=${4:-2}
duration=${DURATION:-10}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
cargo build -q --release -p cordial -p cordial-bench
. "$here/lib.sh"
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
: >"$work/results"
run() { # LABEL BINARY
  local label=$1 bin=$2 data port
  data=$(mktemp -d -p "$work")
  port=$(free_port)
  cordial_toml "$data" "$port" false
  RUST_LOG=warn "$bin" serve --config "$data/cordial.toml" >"$data/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do ss -ltn | grep -q "127.0.0.1:$port " && break; sleep 0.1; done
  local b=("$root/target/release/cordial-bench" --port "$port" --server-pid "$pid")
  "${b[@]}" register -n "$n" >/dev/null
  out=$("${b[@]}" --label "$label" chat -n "$n" --rate "$rate" --duration "$duration")
  echo "$out"
  echo "$label $out" >>"$work/results"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}
for _ in $(seq "$rounds"); do
  run baseline "$base_bin"
  run this "$root/target/release/cordial"
done
python3 - "$work/results" <<'PY'
import json, statistics, sys
by = {}
for line in open(sys.argv[1]):
    label, js = line.split(" ", 1)
    by.setdefault(label, []).append(json.loads(js)["result"])
base = None
for label in ("baseline", "this"):
    runs = by[label]
    med = lambda f: statistics.median(f(r) for r in runs)
    rate = med(lambda r: r["delivered_per_sec"])
    cpu = med(lambda r: r["server_cpu_secs"] / max(1, r["delivered"]) * 1000)
    line = (f"{label}: delivered {rate:.0f} msg/s, p50 {med(lambda r: r['p50_ms']):.2f} ms, "
            f"p99 {med(lambda r: r['p99_ms']):.2f} ms, server CPU {cpu * 1000:.1f} ms per 1000 messages")
    if base is None:
        base = (rate, cpu)
    else:
        line += f"  (throughput {rate / base[0]:.3f}x, CPU per message {cpu / base[1]:.3f}x of baseline)"
    print(line)
PY
