#!/usr/bin/env bash
# The test command: the workspace's unit and scripted-session tests, the crash test in its short
# form (a few SIGKILLs under load, nothing acknowledged may be lost), then interop with a real
# client library (slixmpp) against a real `cordial serve` process, and a real web client
# (@xmpp/client, over WebSocket) against cordial embedded in the example actix-web app.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets
PROFILE=debug scripts/crash/run.sh "${CRASH_KILLS:-5}"
scripts/interop/run.sh
scripts/web/run.sh
