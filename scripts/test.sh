#!/usr/bin/env bash
# The test command: the workspace's unit and scripted-session tests, the crash test in its short
# form (a few SIGKILLs under load, nothing acknowledged may be lost), then interop with real
# clients (go-sendxmpp, slixmpp) against a real `cordial serve` process, federation with a real
# server (Prosody serving b.test, cordial a.test, a slixmpp user on each; it installs Prosody
# and adds two loopback names to /etc/hosts when missing, which needs root, else it says NOT
# RUN), and a real web client (@xmpp/client, over WebSocket) against cordial embedded in the
# example actix-web app, and the full-disk run in its short form (it mounts tmpfs, so it needs
# root: run with sudo when that works without a password, else said and skipped; CI runs as
# root). On a fresh machine it first installs what is missing (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# A Rust toolchain it has just installed lives in ~/.cargo/bin.
if [ -d "$HOME/.cargo/bin" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
cargo test --workspace --all-targets
PROFILE=debug scripts/crash/run.sh "${CRASH_KILLS:-5}"
scripts/interop/run.sh
scripts/interop/prosody_s2s.sh
scripts/web/run.sh
if [ "$(id -u)" -eq 0 ]; then
  PROFILE=debug scripts/faults/run.sh 2
elif sudo -n true 2>/dev/null; then
  sudo -E env "PATH=$PATH" PROFILE=debug scripts/faults/run.sh 2
else
  echo "scripts/test.sh: NOT RUN: the full-disk run (scripts/faults/run.sh) needs root to mount tmpfs" >&2
fi
