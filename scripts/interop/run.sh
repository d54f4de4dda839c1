#!/usr/bin/env bash
# Interop with real clients: builds cordial, starts `cordial serve` on a temporary data dir and
# free loopback ports, creates two accounts with `cordial adduser` through the running server's
# admin socket, and runs scripts/interop/go_sendxmpp.sh (the go-sendxmpp command-line client:
# offline message with its delay stamp, send and listen over STARTTLS and direct TLS), then
# scripts/interop/slixmpp_chat.py (STARTTLS + SCRAM-SHA-256, chat both ways, roster,
# subscriptions, offline message with a delay stamp, SCRAM-SHA-256-PLUS bound with tls-unique
# over TLS 1.2), then scripts/interop/tokio_xmpp_plus.sh (tokio-xmpp with rustls:
# SCRAM-SHA-256-PLUS with tls-exporter channel binding over TLS 1.3, STARTTLS and direct TLS,
# checked in the client's trace and in the server's log; it builds its own small crate,
# scripts/interop/tokio_xmpp_plus/). go-sendxmpp goes first: its offline check
# needs an account that has not logged in yet. Stops the server it started, by PID.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -c "import slixmpp" 2>/dev/null || "$venv/bin/pip" install -q "slixmpp==1.17.0"

cargo build -q --bin cordial
bin="$root/target/debug/cordial"

data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
tls_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log="$data/server.log"
RUST_LOG=${RUST_LOG:-info} "$bin" serve --data-dir "$data" --c2s-listen "127.0.0.1:$port" --tls-listen "127.0.0.1:$tls_port" --web-listen off --s2s-listen off >"$log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT

for _ in $(seq 100); do
  [ -S "$data/admin.sock" ] && break
  sleep 0.1
done
"$bin" adduser alice@localhost --password 'alice pw' --data-dir "$data"
"$bin" adduser bob@localhost --password 'bob pw' --data-dir "$data"

server_log_tail() {
  echo "--- server log ---" >&2
  tail -50 "$log" >&2
}

if ! "$here/go_sendxmpp.sh" 127.0.0.1 "$port" "$tls_port" localhost alice 'alice pw' bob 'bob pw'; then
  server_log_tail
  exit 1
fi
if ! "$venv/bin/python" "$here/slixmpp_chat.py" 127.0.0.1 "$port" localhost alice 'alice pw' bob 'bob pw'; then
  server_log_tail
  exit 1
fi
if ! "$here/tokio_xmpp_plus.sh" 127.0.0.1 "$port" "$tls_port" localhost alice 'alice pw' "$data/dev-cert.pem" "$log"; then
  server_log_tail
  exit 1
fi
