#!/usr/bin/env bash
# The test command: the workspace's unit and scripted-session tests, the crash test in its short
# form (a few SIGKILLs under load, nothing acknowledged may be lost), then interop with real
# clients (go-sendxmpp, slixmpp) against a real `cordial serve` process, and a real web client
# (@xmpp/client, over WebSocket) against cordial embedded in the example actix-web app. On a
# fresh machine it first installs what is missing (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# A Rust toolchain it has just installed lives in ~/.cargo/bin.
if [ -d "$HOME/.cargo/bin" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
cargo test --workspace --all-targets
PROFILE=debug scripts/crash/run.sh "${CRASH_KILLS:-5}"
scripts/interop/run.sh
scripts/web/run.sh
PROFILE=debug scripts/faults/run.sh 2
