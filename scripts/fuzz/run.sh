#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer, nightly toolchain): each target runs for SECONDS on its
# corpus (fuzz/corpus/<target>, grown by earlier runs, not committed) and its committed seeds
# (fuzz/seeds/<target>). A crash, hang or out-of-memory input is copied to
# fuzz/regressions/<target>/, which tests/fuzz_regressions.rs replays in every test run.
#
#   scripts/fuzz/run.sh [SECONDS] [TARGET...]   defaults: 60, all five targets
#
# Prints one line per target: executions, seconds, executions per second, and the verdict.
set -euo pipefail
seconds=${1:-60}
shift || true
cd "$(dirname "$0")/../.."
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(stream_parser stanza_routing roster_privacy privacy_edits sasl)
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo +nightly fuzz build --release >/dev/null
failed=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t" "fuzz/regressions/$t"
  log=$(mktemp)
  status=0
  cargo +nightly fuzz run --release "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  took=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | grep -oE 'in [0-9]+' | grep -oE '[0-9]+' || echo "$seconds")
  verdict=ok
  if [ "$status" -ne 0 ]; then
    verdict="FAILED (see $log)"
    failed=1
    for a in fuzz/artifacts/"$t"/*; do
      [ -f "$a" ] && cp "$a" "fuzz/regressions/$t/" && verdict="$verdict; input saved to fuzz/regressions/$t/$(basename "$a")"
    done
  else
    rm -f "$log"
  fi
  rate=$(( runs / (took > 0 ? took : 1) ))
  echo "$t: $runs executions in ${took} s ($rate/s): $verdict"
done
exit $failed
