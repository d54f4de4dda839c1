# Shared by the bench scripts (sourced).

# What the scripts that drive a cordial with cordial-bench do first: sets $root (the checkout)
# and goes there, builds cordial and cordial-bench (release), and raises the open-file limit to
# the hard limit (the server started afterwards inherits it).
bench_setup() {
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  cd "$root"
  cargo build -q --release -p cordial -p cordial-bench
  ulimit -n "$(ulimit -Hn)"
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Writes DIR/cordial.toml for a cordial with its data in DIR, clients on 127.0.0.1:PORT, no direct
# TLS port, in-band registration on and no stanza rate limit (as the other servers are run). REQUIRE_TLS (true|false) is `auth.require_tls`;
# WEB_PORT (optional) turns on the WebSocket listener on 127.0.0.1:WEB_PORT.
# Usage: cordial_toml DIR PORT REQUIRE_TLS [WEB_PORT]
cordial_toml() {
  local dir=$1 port=$2 require_tls=$3 web=${4:-off}
  [ "$web" = off ] || web="127.0.0.1:$web"
  cat >"$dir/cordial.toml" <<TOML
data_dir = "$dir"
[c2s]
listen = "127.0.0.1:$port"
tls_listen = "off"
[web]
listen = "$web"
[s2s]
listen = "off"
[auth]
require_tls = $require_tls
registration = true
[limits]
stanzas_per_sec = 0
TOML
}

# A build from before federation knows no [s2s] (unknown keys are errors): drops the section
# from DIR/cordial.toml for such a BINARY, so that A/B runs against older builds still start.
# Usage: fit_toml BINARY DIR
fit_toml() {
  if ! "$1" serve --help 2>/dev/null | grep -q -- --s2s-listen; then
    sed -i '/^\[s2s\]$/,+1d' "$2/cordial.toml"
  fi
}

# Starts BINARY serve with DIR/cordial.toml in the background (log in DIR/server.log), sets
# $pid, and waits until 127.0.0.1:PORT listens.
# Usage: serve_cordial BINARY DIR PORT
serve_cordial() {
  local bin=$1 dir=$2 port=$3
  fit_toml "$bin" "$dir"
  RUST_LOG=warn "$bin" serve --config "$dir/cordial.toml" >"$dir/server.log" 2>&1 &
  pid=$!
  wait_listening "$port"
}

# Waits (up to 10 s) until 127.0.0.1:PORT listens.
wait_listening() {
  for _ in $(seq 100); do ss -ltn | grep -q "127.0.0.1:$1 " && return; sleep 0.1; done
}

# Starts the release cordial of $root on a fresh temporary data dir ($data) with clients on a
# free loopback port ($port) and, given `web`, WebSocket on another ($web, else "off"), TLS not
# required; sets $pid, waits until it listens, and on exit stops it and deletes $data.
# Usage: serve_own_cordial [web]
serve_own_cordial() {
  data=$(mktemp -d)
  port=$(free_port)
  web=off
  if [ "${1:-}" = web ]; then web=$(free_port); fi
  cordial_toml "$data" "$port" false "$web"
  serve_cordial "$root/target/release/cordial" "$data" "$port"
  trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
  if [ "$web" != off ]; then wait_listening "$web"; fi
}
