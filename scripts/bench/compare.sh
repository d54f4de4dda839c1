#!/usr/bin/env bash
# Side-by-side benchmark: the same workload against cordial, Prosody and ejabberd in one run.
#
#   scripts/bench/compare.sh SCENARIO [N] [K]   SCENARIO: chat | idle | login | roster | presence | all,
#                                               or several separated by commas (idle,chat,login)
#   env: RATE (chat msg/s, default 2*N), DURATION (s, default 10), HOLD (idle s, default 5),
#        PRESENCE_RATE (presence changes/s in the flood, default 5*N), HUB (contacts of the
#        fan-out hub, default min(N, 1000)),
#        SERVERS (default "cordial prosody ejabberd"), MECH (SASL mechanism of every login:
#        SCRAM-SHA-1, what clients use and all three servers offer, or PLAIN, which makes each
#        login a server-side PBKDF2 of the password; default SCRAM-SHA-1), SOURCES (local addresses for the load generator's
#        connections, comma separated, e.g. 127.0.0.2,127.0.0.3: ~28 000 ports each),
#        PIN=SERVER_CPUS/BENCH_CPUS (e.g. PIN=0/1: each server on CPU 0, the load generator on
#        CPU 1, with taskset, so that at saturation the generator does not take the server's
#        core; results then go to bench-results/<date>/pinned/), RESULTS_DIR (where results go
#        instead of bench-results/<date>[/pinned]),
#        TLS (every connection over STARTTLS, each server with the same self-signed P-256
#        certificate and TLS required before authentication: 1 = the client offers TLS 1.2 and
#        1.3 and each server picks, 1.3 = TLS 1.3 only, 1.2 = TLS 1.2 only; results then go to
#        bench-results/<date>/tls<TLS>-<MECH>[-<CB>]/ unless RESULTS_DIR says otherwise),
#        CB (channel binding type of SCRAM-*-PLUS logins: auto, tls-exporter,
#        tls-server-end-point or tls-unique; see cordial-bench --cb)
#
# Before measuring, each server is probed (cordial-bench probe --login): a server that does not
# offer MECH (over TLS, with TLS), or whose login with it fails (a -PLUS mechanism offered with a
# channel binding type the client cannot use), is reported as unsupported for that run and
# its scenarios are skipped; the run goes on with the other servers. Accounts are set up with
# MECH less its -PLUS. Prosody stores SCRAM-SHA-256 keys when MECH is a SCRAM-SHA-256 one
# (password_hash), ejabberd SHA-256 ones (auth_scram_hash), so that each offers it.
#
# Installs Prosody and ejabberd from Debian if missing, starts each with its own config and
# data under a temporary dir on free loopback ports (authentication without TLS allowed on
# loopback for all three alike unless TLS is set, rate limits off), creates the same N accounts with
# the same K-item rosters, runs cordial-bench, samples each server's RSS and CPU from /proc,
# stops what it started (by PID, or ejabberd by its own control command), and writes
# bench-results/<date>/{results,chart}-n<N>-k<K>.{json,md,svg}.
set -euo pipefail
scenario=${1:-chat}
n=${2:-1000}
k=${3:-20}
rate=${RATE:-$((n * 2))}
duration=${DURATION:-10}
hold=${HOLD:-5}
servers=${SERVERS:-cordial prosody ejabberd}
mech=${MECH:-SCRAM-SHA-1}
# Accounts and rosters are set up with the mechanism less its -PLUS.
setup_mech=${mech%-PLUS}
tls=${TLS:-}
[ "$tls" = 0 ] && tls=""
cb=${CB:-auto}
tls_args=()
case $tls in
  "") ;;
  1) tls_args=(--starttls) ;;
  1.3) tls_args=(--starttls --tls13) ;;
  1.2) tls_args=(--starttls --tls12) ;;
  *) echo "TLS must be 1, 1.2 or 1.3" >&2; exit 2 ;;
esac
[ -n "$tls" ] && tls_args+=(--cb "$cb")
presence_rate=${PRESENCE_RATE:-$((n * 5))}
hub=${HUB:-$((n < 1000 ? n : 1000))}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
root=$(cd "$here/../.." && pwd)
cd "$root"

if ! command -v prosody >/dev/null || ! command -v ejabberdctl >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  # Install without starting the system services.
  added_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    added_policy=1
  fi
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q prosody ejabberd
  [ -n "$added_policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d
fi

cargo build -q --release -p cordial -p cordial-bench
bench_bin="$root/target/release/cordial-bench"
pin_server="" pin_bench=""
if [ -n "${PIN:-}" ]; then
  pin_server=${PIN%/*} pin_bench=${PIN#*/}
  command -v taskset >/dev/null || { echo "PIN needs taskset (util-linux)" >&2; exit 2; }
fi
bench() {
  # bench_mech, if set, replaces MECH for this call (the setup's logins).
  # One SCRAM key cache per server, shared by its runs (see cordial-bench --scram-cache).
  ${pin_bench:+taskset -c "$pin_bench"} "$bench_bin" "${tls_args[@]}" --mechanism "${bench_mech:-$mech}" ${SOURCES:+--sources "$SOURCES"} \
    --scram-cache "$tmp/scram-keys-$port.json" "$@"
}
scenarios=${scenario//,/ }
[ "$scenario" = all ] && scenarios="idle chat login roster presence"
# idle first: its baseline is the server right after setup, before any session.
case " $scenarios " in
  *" idle "*) scenarios="idle $(echo " $scenarios " | sed 's/ idle / /g')" ;;
esac
ulimit -n "$(ulimit -Hn)"

tmp=$(mktemp -d)
chmod 755 "$tmp"
tls_tag=""
if [ -n "$tls" ]; then
  tls_tag="/tls$tls-$mech"
  [ "$cb" != auto ] && tls_tag="$tls_tag-$cb"
fi
out=${RESULTS_DIR:-"$root/bench-results/$(date +%Y-%m-%d)${PIN:+/pinned}$tls_tag"}
mkdir -p "$out/raw"
port_cordial=$(free_port)
port_prosody=$(free_port)
port_ejabberd=$(free_port)
# One certificate for all three servers: ECDSA P-256, as a CA would issue today.
if [ -n "$tls" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost 2>/dev/null
fi
# Copies the certificate and key into DIR (each server reads its own copy, as its own user).
install_cert() { cp "$tmp/cert.pem" "$tmp/key.pem" "$1/"; }
pid=""
ejab_stop=""

stop_server() {
  if [ -n "$ejab_stop" ]; then
    eval "$ejab_stop" >/dev/null 2>&1 || true
    ejab_stop=""
  fi
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    pid=""
  fi
}
trap 'stop_server; rm -rf "$tmp"' EXIT

wait_port() {
  for _ in $(seq 60); do ss -ltn | grep -q "127.0.0.1:$1 " && return 0; sleep 0.5; done
  echo "server on port $1 did not start" >&2; tail -5 "$tmp"/*/out.log "$tmp"/*/*.log 2>/dev/null | cut -c1-300 >&2; return 1
}

pid_on_port() {
  ss -ltnp | grep "127.0.0.1:$1 " | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1
}

start_cordial() {
  local d="$tmp/cordial"; mkdir -p "$d"
  if [ -n "$tls" ]; then
    cordial_toml "$d" "$port_cordial" true
    install_cert "$d"
    printf '[tls]\ncert = "%s"\nkey = "%s"\n' "$d/cert.pem" "$d/key.pem" >>"$d/cordial.toml"
  else
    cordial_toml "$d" "$port_cordial" false
  fi
  RUST_LOG=warn setsid "$root/target/release/cordial" serve --config "$d/cordial.toml" </dev/null >"$d/out.log" 2>&1 &
  pid=$!
  wait_port "$port_cordial"
}

start_prosody() {
  local d="$tmp/prosody"; mkdir -p "$d/data"
  sed -e "s|@DIR@|$d|g" -e "s|@DATA@|$d/data|g" -e "s|@PORT@|$port_prosody|g" \
    -e "s|@LOG_LEVEL@|error|g" "$here/prosody.cfg.lua.in" >"$d/prosody.cfg.lua"
  # SCRAM-SHA-256 keys for a SCRAM-SHA-256 mechanism (Prosody offers one hash at a time).
  case $mech in
    SCRAM-SHA-256*) sed -i '/^VirtualHost/i password_hash = "SHA-256"' "$d/prosody.cfg.lua" ;;
  esac
  if [ -n "$tls" ]; then
    install_cert "$d"
    sed -i -e 's|^c2s_require_encryption = false|c2s_require_encryption = true|' \
      -e 's|^modules_enabled = { |modules_enabled = { "tls"; |' \
      -e "/^VirtualHost/i ssl = { certificate = \"$d/cert.pem\"; key = \"$d/key.pem\" }" \
      "$d/prosody.cfg.lua"
  fi
  # As its own user, as in production: as root, Prosody's mod_posix shuts it down (racily).
  chown -R prosody:prosody "$d"
  local as_prosody=""
  [ "$(id -un)" != prosody ] && as_prosody="setpriv --reuid prosody --regid prosody --init-groups"
  setsid $as_prosody prosody -F --config "$d/prosody.cfg.lua" </dev/null >"$d/out.log" 2>&1 &
  pid=$!
  wait_port "$port_prosody"
}

start_ejabberd() {
  local d="$tmp/ejabberd"; mkdir -p "$d/db" "$d/log"
  local scram_hash=sha starttls="starttls_required: false" certfiles=""
  case $mech in SCRAM-SHA-256*) scram_hash=sha256 ;; SCRAM-SHA-512*) scram_hash=sha512 ;; esac
  if [ -n "$tls" ]; then
    install_cert "$d"
    starttls="starttls: true
    starttls_required: true"
    certfiles="certfiles:
  - $d/cert.pem
  - $d/key.pem"
  fi
  cat >"$d/ejabberd.yml" <<YML
hosts: ["localhost"]
$certfiles
loglevel: error
log_rotate_count: 0
listen:
  -
    port: $port_ejabberd
    ip: "127.0.0.1"
    module: ejabberd_c2s
    backlog: 4096
    max_stanza_size: 262144
    shaper: none
    access: c2s
    $starttls
auth_method: internal
# Like cordial and Prosody: salted SCRAM keys, not passwords, of the hash MECH uses (ejabberd
# offers one at a time).
auth_password_format: scram
auth_scram_hash: $scram_hash
shaper:
  normal: 1000000000
  fast: 1000000000
shaper_rules:
  max_user_sessions: 10
  c2s_shaper: none
  s2s_shaper: none
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  register:
    allow: all
registration_timeout: infinity
modules:
  mod_roster:
    versioning: true
  mod_register:
    access: register
    ip_access: all
    password_strength: 0
  mod_disco: {}
  mod_ping: {}
  mod_offline: {}
YML
  printf 'ERLANG_NODE=cordialbench@localhost\nERL_MAX_PORTS=65536\n' >"$d/ejabberdctl.cfg"
  chown -R ejabberd:ejabberd "$d"
  # Run ejabberdctl as the ejabberd user ourselves: its own `su` goes through PAM, which resets
  # the open-files limit to 1024 and makes ejabberd fail at ~1000 sessions.
  local as_ejabberd=""
  [ "$(id -un)" != ejabberd ] && as_ejabberd="setpriv --reuid ejabberd --regid ejabberd --init-groups env HOME=/var/lib/ejabberd"
  local ctl="$as_ejabberd ejabberdctl --config-dir $d --ctl-config $d/ejabberdctl.cfg --config $d/ejabberd.yml --spool $d/db --logs $d/log"
  # Detached: in the foreground the Erlang shell would stop the node at EOF on stdin.
  $ctl start </dev/null >"$d/out.log" 2>&1
  ejab_stop="$ctl stop"
  wait_port "$port_ejabberd"
  pid=$(pid_on_port "$port_ejabberd")
}

# Both print 0 once the process is gone, so a server that dies is reported, not fatal here.
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# Waits until the server is idle (under 5% of a core over a second, at most 5 minutes), so that
# work left from the setup (ejabberd takes minutes over 20 000 subscriptions) is not measured.
quiesce() {
  local hz c0 c1; hz=$(getconf CLK_TCK)
  for _ in $(seq 300); do
    c0=$(cpu_ticks "$pid"); sleep 1; c1=$(cpu_ticks "$pid")
    [ $(( (c1 - c0) * 100 )) -le $(( hz * 5 )) ] && return 0
  done
  echo "server still busy after 5 minutes; measuring anyway" >&2
}

# Runs a bench command while sampling the server: writes the JSON result with rss/cpu added.
measured() {
  local srv=$1 name=$2; shift 2
  local file="$out/raw/$srv-$name-n$n-k$k.json"
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "{\"scenario\": \"$name\", \"server\": \"$srv\", \"error\": \"server not running\"}" | tee "$file"
    return 0
  fi
  quiesce
  local rss0 cpu0 peak=0 r
  rss0=$(rss_kib "$pid"); cpu0=$(cpu_ticks "$pid")
  local t0; t0=$(date +%s.%N)
  bench --port "$port" --label "$srv" --server-pid "$pid" "$@" >"$tmp/run.out" 2>"$tmp/run.err" &
  local b=$!
  local loaded=""
  while kill -0 "$b" 2>/dev/null; do
    r=$(rss_kib "$pid"); [ "${r:-0}" -gt "$peak" ] && peak=$r
    if [ -z "$loaded" ] && grep -q '^READY' "$tmp/run.out" 2>/dev/null; then sleep 1; loaded=$(rss_kib "$pid"); fi
    sleep 0.25
  done
  wait "$b" || true
  local t1; t1=$(date +%s.%N)
  local cpu1; cpu1=$(cpu_ticks "$pid")
  local hz; hz=$(getconf CLK_TCK)
  local alive=1; kill -0 "$pid" 2>/dev/null || alive=0
  grep -v '^READY' "$tmp/run.out" | tail -1 | python3 -c "
import json,sys
text=sys.stdin.read().strip()
d=json.loads(text) if text else {'scenario': '$name', 'server': '$srv', 'result': {}}
if not $alive: d['error']='the server stopped during the run'
d['k']=$k
d['rss_before_kib']=$rss0; d['rss_peak_kib']=$peak
d['rss_loaded_kib']=${loaded:-0} or None
d['cpu_secs']=($cpu1-$cpu0)/$hz; d['wall_secs']=$t1-$t0
print(json.dumps(d))" >"$file"
  tail -3 "$tmp/run.err" >&2 || true
  cat "$file"
}

# Writes the raw result of SCENARIO for the current server as unsupported, with REASON.
unsupported() {
  local srv=$1 name=$2 reason=$3
  python3 -c 'import json,sys; print(json.dumps({"scenario": sys.argv[1], "server": sys.argv[2], "mechanism": sys.argv[3], "unsupported": sys.argv[4]}))' \
    "$name" "$srv" "$mech" "$reason" | tee "$out/raw/$srv-$name-n$n-k$k.json"
}

# Probes the running server with MECH (with `--login`, also one login of user0 with it); prints
# why it cannot be measured, or nothing.
why_unsupported() {
  local srv=$1 file="$out/raw/$srv-probe-n$n-k$k.json"; shift
  bench --port "$port" --label "$srv" probe "$@" >"$file" 2>"$tmp/probe.err" || true
  python3 - "$file" "$mech" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except ValueError:
    print("the probe printed nothing"); sys.exit()
r, mech = d.get("result", {}), sys.argv[2]
tls = (d.get("tls") or {}).get("version")
over = f" over {tls}" if tls else ""
if r.get("error"):
    print(f"cannot open a stream: {r['error']}")
elif not r.get("mechanism_offered"):
    print(f"{mech} not offered{over} (offers {' '.join(r.get('mechanisms', [])) or 'nothing'})")
elif r.get("login_ok") is False:
    cb = (d.get("tls") or {}).get("channel_binding")
    print(f"{mech} offered{over} but the login failed" + (f" (channel binding {cb})" if cb else "") + f": {r.get('login_error')}")
PY
}

for srv in $servers; do
  eval "port=\$port_$srv"
  echo "== $srv (port $port)" >&2
  # A server left on the port by an earlier run would be measured in place of this one.
  if ss -ltn | grep -q "127.0.0.1:$port "; then
    echo "port $port is already taken (a server left from an earlier run?); stop it first" >&2
    exit 1
  fi
  "start_$srv"
  # Every thread of the server, including those it has started already.
  [ -n "$pin_server" ] && [ -n "$pid" ] && taskset -a -p -c "$pin_server" "$pid" >/dev/null
  # A server that does not offer MECH is not set up; one that does is tried with one login.
  reason=$(why_unsupported "$srv")
  if [ -z "$reason" ]; then
    bench --port "$port" --label "$srv" register -n "$n" >/dev/null || true
    # The presence scenario sets up its own accounts and subscriptions.
    if [ "$k" -gt 0 ] && [ "$scenarios" != presence ]; then
      bench_mech=$setup_mech bench --port "$port" --label "$srv" rosters -n "$n" -k "$k" >/dev/null || true
    fi
    reason=$(why_unsupported "$srv" --login)
  fi
  if [ -n "$reason" ]; then
    echo "$srv: unsupported in this run: $reason" >&2
    for sc in $scenarios; do unsupported "$srv" "$sc" "$reason"; done
    stop_server
    continue
  fi
  for sc in $scenarios; do
  case $sc in
    idle) measured "$srv" idle idle -n "$n" --hold "$hold" ;;
    chat) measured "$srv" chat chat -n "$n" --rate "$rate" --duration "$duration" ;;
    login) measured "$srv" login --concurrency 16 login -n "$n" --duration "$duration" ;;
    roster)
      measured "$srv" roster1000 roster -k 1000 --iterations 20 --user roster1k
      if [ "${ROSTER10K:-0}" = 1 ]; then measured "$srv" roster10000 roster -k 10000 --iterations 5 --user roster10k; fi ;;
    presence)
      # Its own accounts (presN, presNhub), subscribed both ways in a ring of K and to the hub.
      bench --port "$port" --label "$srv" --prefix pres register -n "$n" >/dev/null || true
      bench --port "$port" --label "$srv" --prefix pres subscriptions -n "$n" -k "$k" --hub "$hub" >&2 || true
      measured "$srv" presence --prefix pres presence -n "$n" -k "$k" --hub "$hub" \
        --rate "$presence_rate" --duration "$duration" ;;
    *) echo "unknown scenario $sc" >&2; exit 2 ;;
  esac
  done
  stop_server
done

python3 "$here/report.py" "$out" "$n" "$k"
