#!/usr/bin/env bash
# Interop with tokio-xmpp 6.0.0 (xmpp-rs's client library; rustls with the ring provider), a
# client not written here, against a running `cordial serve` (scripts/interop/run.sh starts
# it): SCRAM-SHA-256-PLUS with tls-exporter channel binding (RFC 9266) over TLS 1.3.
# Builds scripts/interop/tokio_xmpp_plus/ (a small program on tokio-xmpp, its own target dir),
# then, over STARTTLS and over direct TLS (XEP-0368), logs in as USER, sends its available
# presence and waits for it to come back, sends a chat message to its own bare JID and waits
# for it. tokio-xmpp picks SCRAM-SHA-256-PLUS by itself when its TLS layer negotiated TLS 1.3
# (it then computes tls-exporter) and the server offers it. Each run must show, from the
# client's side (tokio-xmpp's trace of the XML it sent, rustls's cipher suite):
#   TLS 1.3, channel binding tls-exporter, <auth mechanism='SCRAM-SHA-256-PLUS'>, GS2 header
#   p=tls-exporter,, and a c= made of that header and the 32 bytes rustls exported;
# and, with LOG (the server's log, at info level), from the server's side: one more line
# "authenticated as USER@DOMAIN with SCRAM-SHA-256-PLUS bound to tls-exporter". The server
# checks c= against its own tls-exporter value, so a login that succeeded proves both ends derived the same one; to
# show that it does check, a last STARTTLS login with one bit of the binding data flipped
# (--tamper-binding) must be refused with not-authorized (and logged so). That failed login
# counts against USER and the address in the server's throttle: run this script last.
# The client trusts only CA (the server's certificate, e.g. <data-dir>/dev-cert.pem) and
# verifies it for DOMAIN; HOST must be a loopback address (nothing is looked up in DNS).
# Exits non-zero with the reason and the client's output on any failure.
#
# Usage: tokio_xmpp_plus.sh HOST PORT TLS_PORT DOMAIN USER PASS CA [LOG]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
host=$1 port=$2 tls_port=$3 domain=$4 user=$5 pass=$6 ca=$7 log=${8:-}
TIMEOUT=${TOKIO_XMPP_PLUS_TIMEOUT:-20}
mechanism=SCRAM-SHA-256-PLUS

crate="$here/tokio_xmpp_plus"
# Its own target dir: the crate is not in the root workspace and shares no build with it.
export CARGO_TARGET_DIR="$crate/target"
cargo build -q --locked --manifest-path "$crate/Cargo.toml"
bin="$CARGO_TARGET_DIR/debug/tokio-xmpp-plus"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL: $*" >&2
  if [ -s "$work/client.err" ]; then
    echo "--- tokio-xmpp client stderr ---" >&2
    tail -20 "$work/client.err" >&2
  fi
  exit 1
}

# server_lines TEXT: how many lines of the server's log contain TEXT.
server_lines() {
  grep -cF -- "$1" "$log" || true
}

# server_logged TEXT BEFORE WHAT: waits until the server's log has more than BEFORE lines
# containing TEXT, then prints the last one.
server_logged() {
  local text=$1 before=$2 what=$3
  local deadline=$((SECONDS + 5))
  until [ "$(server_lines "$text")" -gt "$before" ]; do
    [ "$SECONDS" -lt "$deadline" ] ||
      fail "$what: the server logged no '$text' (is it logging at info level?)"
    sleep 0.1
  done
  echo "  server: $(grep -F -- "$text" "$log" | tail -1)"
}

# client MODE PORT ARGS...: one run of the client, its report printed; fails with WHAT.
client() {
  local mode=$1 port=$2 status=0
  shift 2
  # The client has its own timeout; this one is for a client that hangs anyway.
  XMPP_PASSWORD="$pass" timeout $((TIMEOUT + 10)) "$bin" --server "$host:$port" \
    --mode "$mode" --jid "$user@$domain" --ca "$ca" --timeout "$TIMEOUT" "$@" \
    >"$work/client.out" 2>"$work/client.err" || status=$?
  sed 's/^/  /' "$work/client.out"
  return "$status"
}

# login MODE PORT WHAT: logs in, checks the client's report and the server's log.
login() {
  local mode=$1 port=$2 what=$3 text="authenticated as $user@$domain with $mechanism bound to tls-exporter" before=0
  [ -z "$log" ] || before=$(server_lines "$text")
  client "$mode" "$port" ||
    fail "tokio-xmpp could not log in, exchange presence and a message over $what"
  local ok="OK mechanism=$mechanism binding=tls-exporter tls=1.3"
  grep -qxF -- "$ok" "$work/client.out" ||
    fail "over $what tokio-xmpp did not log in with $mechanism, tls-exporter and TLS 1.3 (expected '$ok')"
  grep -qF -- "GS2 header 'p=tls-exporter,,'; c= is the GS2 header and the 32 bytes rustls exported" \
    "$work/client.out" || fail "over $what the SCRAM messages do not carry the tls-exporter binding"
  [ -z "$log" ] || server_logged "$text" "$before" "over $what"
}

# refused: a STARTTLS login with one bit of the binding data flipped must be refused.
refused() {
  local text="authentication with $mechanism failed (not-authorized)" before=0
  [ -z "$log" ] || before=$(server_lines "$text")
  client starttls "$port" --tamper-binding ||
    fail "tokio-xmpp with tampered binding data was not refused with not-authorized"
  local refused="REFUSED mechanism=$mechanism binding=tls-exporter"
  grep -qxF -- "$refused" "$work/client.out" ||
    fail "with tampered binding data: expected '$refused'"
  [ -z "$log" ] || server_logged "$text" "$before" "with tampered binding data"
}

login starttls "$port" STARTTLS
login direct-tls "$tls_port" "direct TLS"
echo "tokio-xmpp logged in with $mechanism (tls-exporter, TLS 1.3) over STARTTLS and direct TLS"
refused
echo "with one bit of its tls-exporter data flipped, tokio-xmpp's $mechanism login was refused"
echo "OK"
