#!/usr/bin/env bash
# Crash test: `cordial serve` under a mixed load (roster edits, subscriptions with approvals,
# blocklist and privacy-list edits, messages to offline accounts) is killed with SIGKILL KILLS
# times at random moments; after each kill `cordial check` reads the stored state, the server
# restarts, and every account is read back over the protocol. Fails if anything acknowledged
# is missing or anything is inconsistent.
#
#   scripts/crash/run.sh [KILLS] [cordial-crash options...]   default KILLS 50
#   PROFILE=debug scripts/crash/run.sh 5                       the short form the tests run
#
# Prints progress per kill and one JSON line: kills, acknowledged operations by kind, lost,
# inconsistent. `--seed N` replays a run's choices (the seed is printed first).
set -euo pipefail
kills=${1:-50}
shift || true
profile=${PROFILE:-release}
cd "$(dirname "$0")/../.."
if [ "$profile" = release ]; then
  cargo build -q --release -p cordial -p cordial-bench
else
  cargo build -q -p cordial -p cordial-bench
fi
bin="target/$profile"
"$bin/cordial-crash" --server "$bin/cordial" --kills "$kills" "$@"
