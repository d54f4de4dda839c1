#!/usr/bin/env bash
# The full-disk run: each server's data directory on a small tmpfs (4 MiB); one client sends
# 2 000 chat messages of 4 KB to an account that stays offline, with a roster get after every
# 10 (its answer acknowledges the messages before it, RFC 6120 §10.1), until the disk is full;
# the tmpfs is grown to 64 MiB while the server runs, and 5 s later 200 more messages and a
# roster set must succeed; then the server is stopped (SIGTERM), started again on the same data
# and the recipient collects its offline messages. Fails if any acknowledged message was lost
# or writes did not resume without a restart. See bench/src/faults/main.rs.
#
#   scripts/faults/run.sh [RUNS] [cordial-faults options...]   default RUNS 10
#   PROFILE=debug scripts/faults/run.sh 2                       the short form the tests run
#   SERVERS="cordial prosody" scripts/faults/run.sh 5           the same runs against Prosody
#                                                               (Debian's, installed if missing)
#
# Options go to every server's runs: --size 4M --grown 64M --wait 5 --messages 2000 --after 200
# --body-bytes 4096 --seed N. Prints one JSON line per run (acknowledged, bounced and their error
# conditions, received, lost, duplicates, bounced but received, how many messages fit before the
# first bounce and the bytes used per message then, whether writes resumed) and one summary line
# per server. Needs root: it mounts tmpfs (CI runs as root). Everything it mounts is unmounted
# on exit; the work directory (server logs) is kept when a run fails.
set -euo pipefail
runs=${1:-10}
shift || true
profile=${PROFILE:-release}
servers=${SERVERS:-cordial}
cd "$(dirname "$0")/../.."
root=$(pwd)

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/faults/run.sh: needs root, to mount a tmpfs for each server's data (CI runs as root)" >&2
  exit 2
fi

work=$(mktemp -d /tmp/cordial-faults.XXXXXX)
chmod 755 "$work"
keep=""
cleanup() {
  # Whatever is still mounted under the work directory, deepest first.
  awk -v w="$work/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" || echo "could not unmount $m" >&2
  done
  if [ -z "$keep" ] && ! awk -v w="$work/" 'index($2, w) == 1 {f=1} END {exit !f}' /proc/mounts; then
    rm -rf "$work"
  fi
}
trap cleanup EXIT

mkdir "$work/probe"
if ! mount -t tmpfs -o size=64k tmpfs "$work/probe"; then
  echo "scripts/faults/run.sh: cannot mount a tmpfs (root without CAP_SYS_ADMIN, e.g. in an unprivileged container?)" >&2
  exit 2
fi
umount "$work/probe"

if [[ " $servers " == *" prosody "* ]] && ! command -v prosody >/dev/null; then
  echo "scripts/faults/run.sh: apt-get install prosody" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Install without starting the system service.
  added_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    added_policy=1
  fi
  apt-get -q -o DPkg::Lock::Timeout=300 update >&2
  apt-get -q -o DPkg::Lock::Timeout=300 install -y prosody >&2
  [ -n "$added_policy" ] && rm -f /usr/sbin/policy-rc.d
fi

if [ "$profile" = release ]; then
  cargo build -q --release -p cordial -p cordial-bench
else
  cargo build -q -p cordial -p cordial-bench
fi
bin="$root/target/$profile"

status=0
for srv in $servers; do
  case $srv in
    cordial) server="$bin/cordial" ;;
    prosody) server=$(command -v prosody) ;;
    *) echo "scripts/faults/run.sh: unknown server $srv (cordial or prosody)" >&2; exit 2 ;;
  esac
  rc=0
  "$bin/cordial-faults" --kind "$srv" --server "$server" --runs "$runs" --work-dir "$work/$srv" "$@" || rc=$?
  [ "$rc" -gt "$status" ] && status=$rc
done
if [ "$status" -ne 0 ]; then
  keep=1
  echo "scripts/faults/run.sh: failed; server logs kept in $work" >&2
fi
exit "$status"
