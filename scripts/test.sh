#!/usr/bin/env bash
# The test command: the workspace's unit and scripted-session tests, then interop with a real
# client library (slixmpp) against a real `cordial serve` process.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets
scripts/interop/run.sh
