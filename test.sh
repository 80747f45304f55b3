#!/usr/bin/env bash
# Runs every check and test of ferry on a fresh Debian machine with the Rust toolchain:
# installs what is missing (cmake for pingora's zlib), then fmt, clippy and all tests.
set -euo pipefail
cd "$(dirname "$0")"

# Keep build artifacts between runs (a clean pingora build takes minutes on 2 cores).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry-target}"
# No incremental caches (tens of GB over many builds), and test binaries of builds older than a
# day removed: the target directory stays bounded across runs.
export CARGO_INCREMENTAL=0
# Each change of features or flags links a test binary anew under a new hash (each up to 900 MB
# with debug info): of each name only the two newest are kept (a crate's binary and its tests can
# share a name).
deps="$CARGO_TARGET_DIR/debug/deps"
if [ -d "$deps" ]; then
  find "$deps" -maxdepth 1 -type f -perm -u+x ! -name '*.so' -mtime +1 -delete 2>/dev/null || true
  # shellcheck disable=SC2012
  ls -t "$deps" | grep -E '^[A-Za-z0-9_]+-[0-9a-f]{16}$' | awk -F- 'seen[$1]++ >= 2' |
    while read -r old; do [ -x "$deps/$old" ] && rm -f "$deps/$old" "$deps/$old.d"; done || true
fi
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
need_apt openssl openssl   # tests/signed_urls.rs makes RSA keys and reference signatures

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
cargo test --workspace --all-targets --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
# One closing line for the whole run: the sum of every test binary's result line.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "test.sh: %d passed, %d failed\n", p, f }' "$log"
[ "$status" = 0 ] || exit "$status"

# A short bounded run of every fuzz target (fuzz/), on its committed corpus. cargo-fuzz and the
# nightly toolchain's sanitizer flags: installed once, kept in ~/.cargo and ~/.cache.
if [ "$#" = 0 ]; then
  echo "== cargo fuzz (each target ${FERRY_FUZZ_SECONDS:=10} s)"
  command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked --quiet cargo-fuzz
  if cargo +nightly --version >/dev/null 2>&1; then fuzz=(cargo +nightly fuzz); sanitizer=address
  else fuzz=(cargo fuzz); sanitizer=none; fi   # stable: coverage-guided, no sanitizer
  fuzz_target="$HOME/.cache/ferry-fuzz-target"
  for target in $(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^ferry-fuzz$'); do
    mkdir -p "fuzz/corpus/$target"
    if ! CARGO_TARGET_DIR="$fuzz_target" "${fuzz[@]}" run --fuzz-dir fuzz -s "$sanitizer" "$target" \
        -- -max_total_time="$FERRY_FUZZ_SECONDS" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        >"$log" 2>&1; then
      tail -40 "$log"
      echo "test.sh: fuzz target $target failed (its input is in fuzz/artifacts/$target)"
      exit 1
    fi
    echo "fuzz $target: $(grep -o '#[0-9]*.*DONE.*' "$log" | tail -1 || grep -c . "$log") ok"
  done
fi
