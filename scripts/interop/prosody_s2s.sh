#!/usr/bin/env bash
# Federation interop with a real XMPP server: cordial serving a.test and Prosody (0.12, from
# the distribution) serving b.test talk server-to-server on loopback, and
# scripts/interop/slixmpp_s2s.py checks it from the users' side: alice@a.test on cordial and
# bob@b.test on Prosody subscribe to each other, see each other's presence, chat both ways,
# and get messages sent while they were offline (Prosody's mod_offline one way, cordial's
# offline store the other), each with a delay stamp.
#
# The setup:
#   - cordial (target/debug/cordial) on 127.0.0.2: c2s on a free port, s2s on 127.0.0.2:5269,
#     a static route "b.test" = "127.0.0.3:5269";
#   - Prosody on 127.0.0.3: c2s on a free port, s2s on 127.0.0.3:5269, a self-signed
#     certificate for b.test, STARTTLS required on s2s, s2s_secure_auth = false (dialback with
#     certificates no CA vouches for); started by this script with its own config, data dir,
#     log and pidfile in a temporary directory (never the system service), stopped by PID;
#   - Prosody finds a.test through /etc/hosts: its resolver (libunbound) is told to read it,
#     and `127.0.0.2 a.test` / `127.0.0.3 b.test` are added there when missing (loopback only,
#     nothing else is changed). libunbound answers every name under .test itself (RFC 6761:
#     a static local zone), so the SRV lookups get NXDOMAIN at once and no query leaves the
#     machine; the run fails if Prosody's log shows a lookup of any other name.
#
# Needs: prosody and openssl (installed with apt-get when missing), write access to
# /etc/hosts for the two entries, the ports 127.0.0.2:5269 and 127.0.0.3:5269 free. Without
# root (or password-less sudo) for what is missing it says NOT RUN and exits 0. As root,
# Prosody runs with run_as_root (its files are all in the temporary directory).
#
# Environment: RUST_LOG (cordial's log, default info), KEEP=1 keeps the temporary directory
# with both servers' logs (Prosody logs at debug level).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

A_IP=127.0.0.2
B_IP=127.0.0.3
say() { echo "prosody_s2s.sh: $*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    return 1
  fi
}

# Prosody and openssl.
if ! command -v prosody >/dev/null || ! command -v prosodyctl >/dev/null || ! command -v openssl >/dev/null; then
  if ! as_root true; then
    say "NOT RUN: prosody is not installed and installing it needs root"
    exit 0
  fi
  say "installing prosody"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q prosody openssl >/dev/null ||
    { as_root apt-get update -q >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q prosody openssl >/dev/null; }
  # The package may have started its own service on the default ports: this run does not use
  # it, and it must not hold 5269 on every address. (A service that was running before is
  # left alone; the port check below names it.)
  if command -v systemctl >/dev/null && systemctl is-active -q prosody 2>/dev/null; then
    as_root systemctl stop prosody || true
  elif [ -x /etc/init.d/prosody ] && as_root /etc/init.d/prosody status >/dev/null 2>&1; then
    as_root /etc/init.d/prosody stop >/dev/null || true
  fi
fi
version=$(prosodyctl about 2>/dev/null | sed -n 's/^Prosody \([0-9.]*\).*/\1/p' | head -1)

# /etc/hosts: the test domains on their loopback addresses.
has_host() {
  local ip=${1//./\\.} name=${2//./\\.}
  grep -qE "^[[:space:]]*${ip}[[:space:]]+([^#]*[[:space:]])?${name}([[:space:]]|#|\$)" /etc/hosts
}
for entry in "$A_IP a.test" "$B_IP b.test"; do
  set -- $entry
  if ! has_host "$1" "$2"; then
    if ! as_root true; then
      say "NOT RUN: /etc/hosts lacks '$1 $2' and adding it needs root"
      exit 0
    fi
    printf '%s %s\n' "$1" "$2" | as_root tee -a /etc/hosts >/dev/null
    say "added '$1 $2' to /etc/hosts"
  fi
done

free_port() {
  python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"
}
port_free() {
  python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],int(sys.argv[2])))' "$1" "$2" 2>/dev/null
}
for addr in "$A_IP 5269" "$B_IP 5269"; do
  set -- $addr
  if ! port_free "$1" "$2"; then
    say "FAIL: $1:$2 is in use (another run, or a server listening on every address?)"
    ss -ltnp 2>/dev/null | grep ":$2 " >&2 || true
    exit 1
  fi
done

venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -c "import slixmpp" 2>/dev/null || "$venv/bin/pip" install -q "slixmpp==1.17.0"

cargo build -q --bin cordial
bin="$root/target/debug/cordial"

tmp=$(mktemp -d)
chmod 755 "$tmp"
cordial_pid=
prosody_pid=
started=$(date +%s)
cleanup() {
  local status=$?
  for pid in $cordial_pid $prosody_pid; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $cordial_pid $prosody_pid; do
    # Both stop on SIGTERM within a second or two; never wait forever.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "${KEEP:-}" = 1 ]; then
    say "logs kept in $tmp (cordial.log, prosody/prosody.log)"
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT

logs_tail() {
  echo "--- cordial log (a.test), last 60 lines ---" >&2
  tail -60 "$tmp/cordial.log" >&2 || true
  echo "--- prosody log (b.test), s2s and errors, last 80 lines ---" >&2
  grep -E "s2s|dialback|error|warn|Received\[s2s|Sending\[s2s" "$tmp/prosody/prosody.log" | tail -80 >&2 || true
}

# --- Prosody for b.test ---
pdir="$tmp/prosody"
mkdir -p "$pdir/data" "$pdir/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=b.test -addext subjectAltName=DNS:b.test \
  -keyout "$pdir/certs/b.test.key" -out "$pdir/certs/b.test.crt" 2>/dev/null
b_c2s=$(free_port "$B_IP")
run_as_root=false
[ "$(id -u)" -eq 0 ] && run_as_root=true
cat >"$pdir/prosody.cfg.lua" <<EOF
-- Written by scripts/interop/prosody_s2s.sh for one run.
run_as_root = $run_as_root
pidfile = "$pdir/prosody.pid"
data_path = "$pdir/data"
certificates = "$pdir/certs"
log = { { levels = { min = "debug" }, to = "file", filename = "$pdir/prosody.log" } }
modules_enabled = { "roster", "saslauth", "tls", "dialback", "disco", "ping", "offline" }
interfaces = { "$B_IP" }
local_interfaces = { "$B_IP" }
c2s_ports = { $b_c2s }
c2s_direct_tls_ports = { }
s2s_ports = { 5269 }
s2s_direct_tls_ports = { }
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = false
authentication = "internal_hashed"
storage = "internal"
-- Resolve through /etc/hosts (a.test); everything under .test is answered locally.
unbound = { hoststxt = "/etc/hosts" }
VirtualHost "b.test"
EOF
prosodyctl --config "$pdir/prosody.cfg.lua" register bob b.test 'bob pw' >/dev/null
prosody -F --config "$pdir/prosody.cfg.lua" >"$pdir/stdout.log" 2>&1 &
prosody_pid=$!

# --- cordial for a.test ---
a_c2s=$(free_port "$A_IP")
cat >"$tmp/cordial.toml" <<EOF
domains = ["a.test"]
data_dir = "$tmp/cordial-data"

[c2s]
listen = "$A_IP:$a_c2s"
tls_listen = "off"

[web]
listen = "off"

[s2s]
listen = "$A_IP:5269"
connect_timeout_secs = 10

[s2s.routes]
"b.test" = "$B_IP:5269"
EOF
RUST_LOG=${RUST_LOG:-info} "$bin" serve --config "$tmp/cordial.toml" >"$tmp/cordial.log" 2>&1 &
cordial_pid=$!

# Asked of the kernel, not by connecting: a probe connection would show in both servers' logs.
listening() {
  [ -n "$(ss -Hltn "src $1:$2" 2>/dev/null)" ]
}
for _ in $(seq 100); do
  if [ -S "$tmp/cordial-data/admin.sock" ] && listening "$A_IP" 5269 && listening "$B_IP" 5269 && listening "$B_IP" "$b_c2s"; then
    break
  fi
  kill -0 "$prosody_pid" 2>/dev/null || { say "FAIL: prosody exited at start"; cat "$pdir/stdout.log" >&2; tail -30 "$pdir/prosody.log" >&2; exit 1; }
  kill -0 "$cordial_pid" 2>/dev/null || { say "FAIL: cordial exited at start"; tail -30 "$tmp/cordial.log" >&2; exit 1; }
  sleep 0.1
done
if ! listening "$B_IP" 5269 || ! listening "$A_IP" 5269 || [ ! -S "$tmp/cordial-data/admin.sock" ]; then
  say "FAIL: the servers are not listening after 10 s"
  logs_tail
  exit 1
fi
if [ "$(cat "$pdir/prosody.pid" 2>/dev/null)" != "$prosody_pid" ]; then
  say "note: prosody's pidfile says $(cat "$pdir/prosody.pid" 2>/dev/null || echo nothing), started as $prosody_pid"
fi
"$bin" adduser alice@a.test --password 'alice pw' --config "$tmp/cordial.toml" >/dev/null
say "cordial (a.test) and Prosody ${version:-?} (b.test) are up; running the checks"

status=0
timeout 150 "$venv/bin/python" "$here/slixmpp_s2s.py" \
  "$A_IP" "$a_c2s" alice@a.test 'alice pw' "$B_IP" "$b_c2s" bob@b.test 'bob pw' || status=$?

# No DNS query may leave the machine: every name Prosody looked up must be under .test.
lookups=$(sed -n 's/.*\tResolve \([^ ]*\) .*/\1/p' "$pdir/prosody.log" | sort -u)
outside=$(printf '%s\n' "$lookups" | grep -v -E '(^|\.)test$' | grep -v '^$' || true)
if [ -n "$outside" ]; then
  say "FAIL: Prosody looked up names outside .test (queries may have left the machine): $outside"
  status=1
fi
say "Prosody's lookups: $(printf '%s ' $lookups)"

if [ "$status" -ne 0 ]; then
  say "FAIL (status $status) after $(( $(date +%s) - started )) s"
  logs_tail
  exit 1
fi
say "OK in $(( $(date +%s) - started )) s"
