#!/usr/bin/env bash
# Runs every check and test of ferry on a fresh Debian machine with the Rust toolchain:
# installs what is missing (cmake for pingora's zlib), then fmt, clippy and all tests.
set -euo pipefail
cd "$(dirname "$0")"

# Keep build artifacts between runs (a clean pingora build takes minutes on 2 cores).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "test.sh: need root (or sudo) to run: $*" >&2; return 1; fi
}

apt_updated=""
need_apt() {   # need_apt COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "test.sh: installing $2 (for $1)"
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

need_apt cmake cmake
need_apt cc gcc

# boto3 for tests/aws_api.rs (the AWS SDK against a running ferry's admin listener) and the moto
# server for tests/provision.rs (plan/apply/destroy/import against a local AWS), in a virtualenv
# kept between runs; tests find it through FERRY_TEST_PYTHON (moto_server sits beside it).
need_apt python3 python3
venv="$HOME/.cache/ferry-venv"
if ! "$venv/bin/python" -c 'import boto3, moto.server' >/dev/null 2>&1 || [ ! -x "$venv/bin/moto_server" ]; then
  if [ ! -x "$venv/bin/python" ]; then
    if ! python3 -c 'import ensurepip' >/dev/null 2>&1; then   # Debian splits venv's pip out
      echo "test.sh: installing python3-venv"
      if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    echo "test.sh: creating the Python virtualenv $venv"
    python3 -m venv "$venv"
  fi
  echo "test.sh: installing boto3 and moto[server] into $venv"
  "$venv/bin/python" -m pip install --quiet boto3 'moto[server]'
fi
export FERRY_TEST_PYTHON="$venv/bin/python"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --all-targets "$@" 2>&1 | tee "$log" || status=$?
# One closing line for the whole run: the sum of every test binary's result line.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "test.sh: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
