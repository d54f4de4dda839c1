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
. "$here/lib.sh"
bench_setup
serve_own_cordial
bench() { "$root/target/release/cordial-bench" --port "$port" --server-pid "$pid" "$@"; }
bench register -n "$n" >/dev/null
results="$data/results"
: >"$results"
for round in $(seq "$rounds"); do
  for mode in 0 "$items"; do
    out=$(bench --label "items=$mode" chat -n "$n" --rate "$rate" --duration "$duration" --privacy-items "$mode")
    echo "$out"
    echo "items=$mode $out" >>"$results"
  done
done
python3 "$here/summary.py" "$results" "no lists" "items=0" "items=$items"
