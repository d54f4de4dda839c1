#!/usr/bin/env bash
# RSS of an idle cordial server, and with N idle authenticated sessions (STARTTLS + PLAIN,
# bound, initial presence sent). Builds release, starts its own server on a temporary data
# dir and free loopback ports, stops it by PID. Usage: scripts/bench/idle_rss.sh [N]
# CORDIAL_BIN=path measures another build instead (a baseline for an A/B).
set -euo pipefail
n=${1:-1000}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
cargo build -q --release --bin cordial
bin=${CORDIAL_BIN:-$root/target/release/cordial}
. "$here/lib.sh"
data=$(mktemp -d)
port=$(free_port)
cordial_toml "$data" "$port" true
fit_toml "$bin" "$data"
ulimit -n "$(( n * 2 + 1024 ))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
RUST_LOG=warn "$bin" serve --config "$data/cordial.toml" >"$data/server.log" 2>&1 &
pid=$!
fifo="$data/hold"
mkfifo "$fifo"
cleanup() {
  exec 3>&- 2>/dev/null || true
  [ -n "${load:-}" ] && kill "$load" 2>/dev/null || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
for _ in $(seq 100); do [ -S "$data/admin.sock" ] && break; sleep 0.1; done
sleep 1
idle=$(rss)
out="$data/load.out"
python3 "$here/idle_sessions.py" --port "$port" -n "$n" --register <"$fifo" >"$out" 2>&1 &
load=$!
exec 3>"$fifo"
for _ in $(seq 600); do grep -q READY "$out" 2>/dev/null && break; kill -0 "$load" 2>/dev/null || break; sleep 0.5; done
if ! grep -q READY "$out"; then cat "$out" >&2; tail -20 "$data/server.log" >&2; exit 1; fi
sleep 2
loaded=$(rss)
per=$(( (loaded - idle) * 1024 / n ))
echo "idle server RSS:        ${idle} KiB"
echo "with $n sessions RSS: ${loaded} KiB"
echo "per session:            ${per} bytes ($(( per / 1024 )) KiB)"
