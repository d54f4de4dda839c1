#!/usr/bin/env bash
# Hostile clients against a release build of cordial, with two well-behaved users chatting
# throughout; prints what the server answered each attack and the well-behaved latency during it
# relative to before. ATTACK_SECS (default 6) sets each window.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q --release -p cordial
ulimit -n "$(ulimit -Hn)"
exec python3 scripts/hostile/run.py target/release/cordial
