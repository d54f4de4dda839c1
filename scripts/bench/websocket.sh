#!/usr/bin/env bash
# XMPP over WebSocket (RFC 7395) against TCP c2s on the same cordial server: the chat scenario
# over each transport, alternated ROUNDS times in one run (same accounts, same rate).
#
#   scripts/bench/websocket.sh [N] [RATE] [ROUNDS]   defaults: 1000 100000 2
#   env: DURATION (s, default 10)
#
# RATE is the offered load; set it above what the server can deliver to measure capacity.
# Both transports run without TLS on loopback (ws:// counts as encrypted from loopback,
# `web.trust_loopback`; TCP with `auth.require_tls = false`). Prints each run's JSON and a
# summary per transport (delivered msg/s, p50, p99, server CPU per 1000 messages; medians over
# the rounds) with WebSocket relative to TCP. Starts its own server on free loopback ports and a
# temporary data dir, and stops it by PID.
set -euo pipefail
n=${1:-1000}
rate=${2:-100000}
rounds=${3:-2}
duration=${DURATION:-10}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_setup
serve_own_cordial web
bench() { "$root/target/release/cordial-bench" --server-pid "$pid" "$@"; }
bench --port "$port" register -n "$n" >/dev/null
results="$data/results"
: >"$results"
for round in $(seq "$rounds"); do
  for transport in tcp websocket; do
    if [ "$transport" = tcp ]; then
      args=(--port "$port")
    else
      args=(--port "$web" --websocket)
    fi
    out=$(bench "${args[@]}" --label "$transport" chat -n "$n" --rate "$rate" --duration "$duration")
    echo "$out"
    echo "$transport $out" >>"$results"
  done
done
python3 "$here/summary.py" "$results" TCP tcp websocket
