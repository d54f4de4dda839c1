#!/usr/bin/env bash
# A/B: the chat scenario against two cordial binaries (a baseline build and this one), each on
# its own fresh data dir, alternated ROUNDS times in one run, for before/after figures of a change.
#
#   scripts/bench/ab.sh BASELINE_BINARY [N] [RATE] [ROUNDS]   defaults: 1000 100000 2
#   env: DURATION (s, default 10); PIN=SERVER_CPUS/BENCH_CPUS (e.g. PIN=0/1) pins each
#        server and the load generator with taskset, as compare.sh does
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
. "$here/lib.sh"
bench_setup
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
: >"$work/results"
run() { # LABEL BINARY
  local label=$1 bin=$2 data port
  data=$(mktemp -d -p "$work")
  port=$(free_port)
  cordial_toml "$data" "$port" false
  serve_cordial "$bin" "$data" "$port"
  local b=("$root/target/release/cordial-bench" --port "$port" --server-pid "$pid")
  if [ -n "${PIN:-}" ]; then
    taskset -a -p -c "${PIN%/*}" "$pid" >/dev/null
    b=(taskset -c "${PIN#*/}" "${b[@]}")
  fi
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
python3 "$here/summary.py" "$work/results" baseline baseline this
