#!/usr/bin/env bash
# Installs what building and testing cordial needs on a Debian-like machine, and only what is
# missing (a few checks and no network when everything is there):
#   - Debian packages: pkg-config and the OpenSSL headers (native-tls), python3-venv (the
#     slixmpp interop test), Node.js and npm (the web-client tests), curl, go-sendxmpp (its
#     interop test), chromium (converse.js in a headless browser);
#   - a Rust toolchain through rustup when there is no cargo, and rustfmt and clippy.
# Called by .ci/run, scripts/test.sh and scripts/web/run.sh; run it alone as often as you like.
# Uses sudo when not root. A toolchain installed here lives in ~/.cargo/bin: callers put that
# on their PATH.
set -euo pipefail

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo

need_apt=()
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
[ -f /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
python3 -c "import venv, ensurepip" 2>/dev/null || need_apt+=(python3-venv)
{ command -v node >/dev/null && command -v npm >/dev/null; } || need_apt+=(nodejs npm)
command -v curl >/dev/null || need_apt+=(curl)
command -v go-sendxmpp >/dev/null || need_apt+=(go-sendxmpp)
command -v chromium >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Wait for another apt or dpkg run to finish rather than fail at once.
  apt=(apt-get -q -o DPkg::Lock::Timeout=300)
  $SUDO "${apt[@]}" update
  $SUDO "${apt[@]}" install -y "${need_apt[@]}"
fi

if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
  echo "install-deps: installing a Rust toolchain with rustup"
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  if command -v rustup >/dev/null; then
    echo "install-deps: rustup component add rustfmt clippy"
    rustup component add rustfmt clippy
  else
    # The tests do not need them; .ci/run's lint steps will say what is missing.
    echo "install-deps: warning: cargo fmt or cargo clippy is missing, and there is no rustup to add them" >&2
  fi
fi
