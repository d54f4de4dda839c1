#!/usr/bin/env bash
# Real web clients against cordial embedded in an actix-web app (examples/actix_web_app.rs),
# with a TCP client (slixmpp echo bot, STARTTLS + SCRAM-SHA-256) on the same server:
#  1. @xmpp/client in Node over WebSocket logs in, sets and fetches the roster, and chats with
#     the TCP client;
#  2. converse.js, served by the example app, in headless Chromium (Debian's, driven by
#     playwright-core): logs in, adds the TCP client as a contact, sees it online once the
#     subscription is mutual, sends a message and reads the answer.
# The screenshot and the logs are kept in target/web-artifacts/. Installs what it needs (npm
# packages under tests/web, slixmpp in a venv; Debian's chromium and node through
# scripts/install-deps.sh). Stops what it started, by PID.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
web="$root/tests/web"
cd "$root"

"$root/scripts/install-deps.sh"
(cd "$web" && npm install --no-audit --no-fund --loglevel=error)
venv="$root/scripts/interop/.venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import slixmpp" 2>/dev/null || "$venv/bin/pip" install -q "slixmpp==1.17.0"

cargo build -q --example actix_web_app
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(free_port)
c2s_port=$(free_port)
data=$(mktemp -d)
artifacts="$root/target/web-artifacts"
mkdir -p "$artifacts"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  cp "$data"/*.log "$artifacts/" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT

RUST_LOG=${RUST_LOG:-info} "$root/target/debug/examples/actix_web_app" \
  --listen "127.0.0.1:$http_port" --c2s "127.0.0.1:$c2s_port" --data-dir "$data/db" \
  --static "$web" --user node:node-pw --user browser:browser-pw --user tcp:tcp-pw \
  >"$data/app.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$http_port/.well-known/host-meta" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$http_port/api/hello" >/dev/null || { cat "$data/app.log"; exit 1; }

"$venv/bin/python" "$web/echo_bot.py" 127.0.0.1 "$c2s_port" tcp@localhost tcp-pw >"$data/echo.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q READY "$data/echo.log" && break; sleep 0.1; done
grep -q READY "$data/echo.log" || { cat "$data/echo.log"; exit 1; }

echo "== @xmpp/client over WebSocket"
node "$web/xmpp_client.mjs" "ws://127.0.0.1:$http_port/xmpp-websocket" localhost node node-pw tcp@localhost
echo "== converse.js in headless Chromium"
node "$web/converse.mjs" "http://127.0.0.1:$http_port/chat/converse/index.html" browser@localhost browser-pw tcp@localhost "$artifacts/converse.png"
echo "web clients: OK"
