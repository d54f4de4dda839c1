#!/usr/bin/env bash
# Interop with go-sendxmpp (Debian package `go-sendxmpp`, 0.5.x), a command-line client not
# written here, against a running `cordial serve` (scripts/interop/run.sh starts it):
#  1. offline: USER1 sends to USER2, who has not logged in yet; USER2 then logs in with
#     `go-sendxmpp --listen`, which prints the message with its XEP-0203 delay stamp
#     (go-sendxmpp prints the stamp's time, not the time of arrival; its debug output, the raw
#     stream, shows the <delay/> element itself);
#  2. send and listen: with that listener online, USER1 sends with go-sendxmpp over STARTTLS
#     and over direct TLS (XEP-0368), and the listener prints both.
# go-sendxmpp logs in with PLAIN and writes a newline after </auth>, before the restart's
# stream header. Every wait polls for its event with a deadline; everything started here is
# stopped by PID. Exits non-zero with the reason and go-sendxmpp's output on any failure.
#
# Usage: go_sendxmpp.sh HOST PORT TLS_PORT DOMAIN USER1 PASS1 USER2 PASS2
set -euo pipefail
host=$1 port=$2 tls_port=$3 domain=$4 u1=$5 p1=$6 u2=$7 p2=$8
TIMEOUT=${GO_SENDXMPP_TIMEOUT:-20}
from="$u1@$domain"

if ! command -v go-sendxmpp >/dev/null; then
  echo "FAIL: go-sendxmpp is not installed (scripts/install-deps.sh installs it)" >&2
  exit 1
fi

work=$(mktemp -d)
listener=""
cleanup() {
  if [ -n "$listener" ]; then
    kill "$listener" 2>/dev/null || true
    wait "$listener" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
# go-sendxmpp would read an account from ~/.config; give it an empty home of its own.
export HOME="$work"

fail() {
  echo "FAIL: $*" >&2
  for f in send.err listen.out listen.err; do
    if [ -s "$work/$f" ]; then
      echo "--- go-sendxmpp $f (last lines; <auth/> removed) ---" >&2
      grep -v '<auth' "$work/$f" | tail -20 >&2
    fi
  done
  exit 1
}

# wait_for FILE TEXT WHAT: polls FILE until it contains TEXT, for at most $TIMEOUT seconds,
# failing at once if the listener has exited.
wait_for() {
  local file=$1 text=$2 what=$3
  local deadline=$((SECONDS + TIMEOUT))
  until grep -qF -- "$text" "$file" 2>/dev/null; do
    if [ -n "$listener" ] && ! kill -0 "$listener" 2>/dev/null; then
      fail "the listener exited before $what"
    fi
    [ "$SECONDS" -lt "$deadline" ] || fail "no $what within ${TIMEOUT}s"
    sleep 0.1
  done
}

# send BODY ARGS...: USER1 sends BODY to USER2 with go-sendxmpp (ARGS choose the port).
send() {
  local body=$1
  shift
  echo "$body" | timeout "$TIMEOUT" go-sendxmpp --no-tls-verify \
    --username "$from" --password "$p1" "$@" "$u2@$domain" 2>"$work/send.err"
}

# 1. Offline, then listen.
offline="while you were away, from go-sendxmpp"
send "$offline" --jserver "$host:$port" || fail "go-sendxmpp could not send over STARTTLS"
sent_at=$(date -u +%s)
# The listener logs in a second later at least, so that the time it prints tells the delay
# stamp from the time of arrival.
while [ "$(date -u +%s)" -le "$sent_at" ]; do sleep 0.05; done
listening_since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
go-sendxmpp --debug --no-tls-verify --listen --jserver "$host:$port" \
  --username "$u2@$domain" --password "$p2" "$from" >"$work/listen.out" 2>"$work/listen.err" &
listener=$!
wait_for "$work/listen.out" "$from: $offline" "offline message printed by the listener"
wait_for "$work/listen.err" "<delay xmlns='urn:xmpp:delay'" "delay element in the listener's stream"
printed=$(grep -m1 -F -- "$from: $offline" "$work/listen.out" | cut -d' ' -f1)
stamp=$(grep -m1 -o "<delay xmlns='urn:xmpp:delay'[^>]*stamp='[^']*'" "$work/listen.err" |
  sed "s/.*stamp='//; s/'\$//")
if [ "$printed" != "${stamp:0:19}Z" ]; then
  fail "the listener printed the offline message at $printed, its delay stamp is '$stamp'"
fi
if [[ ! "$printed" < "$listening_since" ]]; then
  fail "the offline message shows $printed, not before the listener logged in ($listening_since)"
fi
echo "go-sendxmpp --listen got the offline message with its delay stamp $stamp"

# 2. Send and listen while the listener is online.
online="hello over STARTTLS, from go-sendxmpp"
send "$online" --jserver "$host:$port" || fail "go-sendxmpp could not send over STARTTLS"
wait_for "$work/listen.out" "$from: $online" "message sent over STARTTLS printed by the listener"
direct="hello over direct TLS, from go-sendxmpp"
send "$direct" --tls --jserver "$host:$tls_port" || fail "go-sendxmpp could not send over direct TLS"
wait_for "$work/listen.out" "$from: $direct" "message sent over direct TLS printed by the listener"
echo "go-sendxmpp sent over STARTTLS and direct TLS; go-sendxmpp --listen printed both"
echo "OK"
