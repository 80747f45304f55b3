#!/usr/bin/env bash
# Instructions per request under callgrind: deterministic counts for ferry's hot paths, so that a
# change that slows them shows even on a noisy machine (where benches/wrk/run.sh's req/s do not).
#
#   benches/callgrind/run.sh                    # from anywhere; root (or sudo) only to install
#   benches/callgrind/run.sh --update-baseline  # and rewrite benches/callgrind/baseline.json
#   benches/callgrind/run.sh --build            # cargo build --release --bin ferry first
#
# Uses the release binary $CARGO_TARGET_DIR/release/ferry (builds it when missing, or always with
# --build; warns when it is older than the sources). Installs valgrind, nginx and python3 when
# missing. Starts the nginx origin of benches/wrk (fixed 1 KiB body), then, case by case, ferry
# under `valgrind --tool=callgrind` with a committed topology of benches/callgrind/conf/ (one
# worker thread, health checks off). The client (client.py) sends BENCH_WARMUP requests, one at a
# time on one keep-alive connection; then `callgrind_control -z` zeroes the counters, the
# BENCH_REQUESTS measured requests follow on the same connection, and `callgrind_control -d`
# dumps. Instructions per request = the dump's total Ir (all threads) / BENCH_REQUESTS. Only
# ferry's process is counted.
#
# Prints a Markdown table with the change against benches/callgrind/baseline.json and a line
# starting with REGRESSION for each case more than BENCH_THRESHOLD percent above it; writes JSON
# to $CARGO_TARGET_DIR/bench/callgrind.json and each case's dump to
# $CARGO_TARGET_DIR/bench/callgrind-CASE.out (for callgrind_annotate). Exits non-zero only when
# the harness fails, never on a regression.
#
# Cases: edge-hit-1k (edge cache hit), edge-miss-path (edge with caching disabled -> balancer ->
# origin, one process), balancer-1k (balancer, round robin over two targets).
#
# Knobs (environment): BENCH_REQUESTS (2000), BENCH_WARMUP (200), BENCH_CASES (all: a
# space-separated subset), BENCH_PORT_BASE (18280: the harness uses 4 ports from there),
# BENCH_THRESHOLD (3: percent above the baseline that prints REGRESSION), BENCH_SETTLE (0.5:
# seconds of idle before zeroing and before dumping, for the server to finish its after-response
# work), BENCH_GLIBC_TUNABLES (ferry's GLIBC_TUNABLES: see below; empty for glibc's defaults).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
conf_dir="$here/conf"
wrk_conf="$repo/benches/wrk/conf"   # the origin's nginx config is shared with the wrk harness

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
REQUESTS="${BENCH_REQUESTS:-2000}"
WARMUP="${BENCH_WARMUP:-200}"
CASES="${BENCH_CASES:-edge-hit-1k edge-miss-path balancer-1k}"
PORT_BASE="${BENCH_PORT_BASE:-18280}"
THRESHOLD="${BENCH_THRESHOLD:-3}"
SETTLE="${BENCH_SETTLE:-0.5}"
# ferry's GLIBC_TUNABLES, for counts that weigh work as the CPU does:
# - glibc.cpu.x86_rep_{movsb,stosb}_threshold: memcpy and memset of 2 KiB and more use
#   `rep movsb`/`rep stosb`, which callgrind counts once per byte: a 7 KiB copy is 7,000
#   "instructions", a few hundred cycles on the CPU. With the thresholds out of reach they use the
#   vector loop (~10 instructions per 128 bytes), as smaller sizes do.
# ferry allocates through mimalloc, whose per-thread free lists give a request the blocks the
# previous one freed: the counts repeat to ~0.1% without tuning glibc's malloc.
# BENCH_GLIBC_TUNABLES= measures with glibc's defaults.
TUNABLES="${BENCH_GLIBC_TUNABLES-glibc.cpu.x86_rep_movsb_threshold=1073741824:glibc.cpu.x86_rep_stosb_threshold=1073741824}"
START_WAIT=120   # seconds for ferry to listen under valgrind (it starts ~50x slower)
BASELINE="$here/baseline.json"

say() { echo "callgrind/run.sh: $*" >&2; }
die() { say "$*"; exit 1; }
# shellcheck source=../lib.sh
source "$here/../lib.sh"

update_baseline=""
build=""
for arg in "$@"; do
  case "$arg" in
    --update-baseline) update_baseline=1 ;;
    --build) build=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $arg (arguments: --update-baseline, --build, --help)" ;;
  esac
done
[[ "$REQUESTS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REQUESTS must be a positive integer, not $REQUESTS"
[[ "$WARMUP" =~ ^[1-9][0-9]*$ ]] || die "BENCH_WARMUP must be a positive integer, not $WARMUP"
for c in $CASES; do
  case "$c" in edge-hit-1k | edge-miss-path | balancer-1k) ;;
    *) die "unknown case $c (cases: edge-hit-1k edge-miss-path balancer-1k)" ;;
  esac
done

# ------------------------------------------------------------------ tools
need_apt valgrind valgrind
need_apt callgrind_control valgrind
need_apt nginx nginx
need_apt python3 python3
export PATH="$PATH:/usr/sbin:/sbin"

# ------------------------------------------------------------------ ports
# Refuse to start when a port is taken, naming it (listening sockets from /proc/net/tcp{,6}).
claim_ports "$PORT_BASE" origin1 origin2 ferry-http ferry-lb

# ------------------------------------------------------------------ cleanup
RUN="$(mktemp -d /tmp/ferry-callgrind.XXXXXX)"
chmod 755 "$RUN"   # nginx workers drop privileges and read the bodies from here
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all
  if [ "$rc" != 0 ] && [ "$rc" != 130 ] && [ -d "$RUN/logs" ]; then
    say "logs of this run: $RUN/logs (kept)"
  else
    rm -rf "$RUN"
  fi
  exit "$rc"
}
forget() {   # forget PID: no longer ours to stop (it has exited or been stopped)
  local keep=() p
  for p in "${started[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  started=("${keep[@]}")
}
trap cleanup EXIT
trap 'say "interrupted: stopping everything it started"; exit 130' INT TERM

# ------------------------------------------------------------------ ferry
FERRY="$CARGO_TARGET_DIR/release/ferry"
if [ -n "$build" ] || [ ! -x "$FERRY" ]; then
  say "building ferry (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  (cd "$repo" && cargo build --release --quiet --bin ferry)
fi
[ -x "$FERRY" ] || die "no ferry binary at $FERRY after the build"
newer=""
while IFS= read -r f; do
  if [ "$repo/$f" -nt "$FERRY" ]; then newer="$newer $f"; fi
done < <(git -C "$repo" ls-files -- '*.rs' '*Cargo.toml' Cargo.lock 2>/dev/null | grep -v '^fuzz/' || true)
[ -z "$newer" ] || say "warning: $FERRY is older than$(cut -d' ' -f1-4 <<<"$newer")...: the counts are the old binary's; --build rebuilds it"

# ------------------------------------------------------------------ setup
mkdir -p "$RUN/conf" "$RUN/www" "$RUN/nginx-tmp" "$RUN/logs" "$RUN/cg"
head -c 768 /dev/urandom | base64 -w0 >"$RUN/www/1k"   # 768 bytes: 1,024 base64 characters, no cut pipe
chmod 644 "$RUN/www/"*

render() {   # render DIR TEMPLATE NAME -> $RUN/conf/NAME.<ext>, placeholders filled in
  render_conf "$1/$2" "$3" 1 "$wrk_conf/nginx-common.inc"
}

wait_port() {   # wait_port PORT PID WHAT SECONDS
  local t
  for t in $(seq $(($4 * 10))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || die "$3 exited at start; its log: $(tail -5 "$RUN/logs/$3.log" 2>/dev/null)"
    sleep 0.1
  done
  die "$3 does not listen on 127.0.0.1:$1 after $4 s; its log: $(tail -5 "$RUN/logs/$3.log" 2>/dev/null)"
}

start_origin() {
  local c
  c="$(render "$wrk_conf" origin.nginx.conf origin)"
  nginx -t -q -e "$RUN/logs/origin.log" -c "$c" -p "$RUN" >/dev/null 2>&1 ||
    die "nginx rejects $c: $(nginx -t -e "$RUN/logs/origin.log" -c "$c" -p "$RUN" 2>&1 | tail -3)"
  nginx -e "$RUN/logs/origin.log" -c "$c" -p "$RUN" -g 'daemon off;' >>"$RUN/logs/origin.log" 2>&1 &
  origin_pid=$!; started+=("$origin_pid")
  wait_port "${PORT[origin1]}" "$origin_pid" origin 10
  wait_port "${PORT[origin2]}" "$origin_pid" origin 10
}

# start_ferry CASE TEMPLATE PORT FERRY-ARGS... -> PID in $ferry_pid. valgrind execs the tool in
# place, so $! is ferry's (instrumented) process itself: callgrind_control and kill take it.
start_ferry() {
  local case=$1 template=$2 port=$3 c; shift 3
  c="$(render "$conf_dir" "$template" "ferry-$case")"
  "$FERRY" validate "$c" >"$RUN/logs/ferry-validate.log" 2>&1 ||
    die "ferry validate rejects $c: $(cat "$RUN/logs/ferry-validate.log")"
  local args=("$@")
  args=("${args[@]/@CONF@/$c}")
  FERRY_LOG="${FERRY_LOG:-warn}" GLIBC_TUNABLES="$TUNABLES" valgrind --tool=callgrind \
    --callgrind-out-file="$RUN/cg/$case.out" --dump-instr=no --separate-threads=no \
    "$FERRY" "${args[@]}" >"$RUN/logs/ferry-$case.log" 2>&1 &
  ferry_pid=$!; started+=("$ferry_pid")
  wait_port "$port" "$ferry_pid" "ferry-$case" "$START_WAIT"
}

# ------------------------------------------------------------------ one case
RAW="$RUN/raw.tsv"
: >"$RAW"
measure() {   # measure CASE PORT PATH EXPECT-X-CACHE(regex, or "")
  local case=$1 port=$2 path=$3 expect=$4 out cpid dumps total n ir seconds xcache
  # The client in the background and `wait`: an interrupt then stops the harness at once. At most
  # 5 minutes (2,200 requests take ~5 s under callgrind).
  timeout 300 python3 "$here/client.py" 127.0.0.1 "$port" "$path" --warmup "$WARMUP" --count "$REQUESTS" \
    --settle "$SETTLE" \
    --zero "timeout 60 callgrind_control -z $ferry_pid" \
    --dump "timeout 60 callgrind_control -d $ferry_pid" >"$RUN/logs/client-$case.json" 2>"$RUN/logs/client-$case.err" &
  cpid=$!; started+=("$cpid")
  local rc=0
  wait "$cpid" || rc=$?
  [ "$rc" != 124 ] || die "the client for $case ran over 5 minutes: $(cat "$RUN/logs/client-$case.err")"
  [ "$rc" = 0 ] || die "the client failed for $case (exit $rc): $(cat "$RUN/logs/client-$case.err")"
  forget "$cpid"
  out="$(cat "$RUN/logs/client-$case.json")"
  read -r seconds xcache < <(python3 -c 'import json, sys
d = json.loads(sys.argv[1])
print(d["seconds"], d["last_headers"].get("x-cache", "-").replace(" ", "_"))' "$out")
  if [ -n "$expect" ] && ! [[ "$xcache" =~ $expect ]]; then
    die "$case: the last measured response has X-Cache ${xcache//_/ }, expected $expect"
  fi
  # The dump callgrind_control -d asked for: $case.out.1 (one file per thread with
  # --separate-threads=yes: sum them all). A dump is written before the command returns; allow a
  # moment for the file system anyway.
  for n in $(seq 50); do
    compgen -G "$RUN/cg/$case.out.*" >/dev/null && break
    sleep 0.1
  done
  dumps=("$RUN"/cg/"$case".out.*)
  [ -e "${dumps[0]}" ] || die "$case: callgrind wrote no dump in $RUN/cg"
  total=0
  for f in "${dumps[@]}"; do
    ir="$(awk '/^totals:/ { print $2; found = 1; exit } END { if (!found) exit 1 }' "$f")" ||
      ir="$(awk '/^summary:/ { print $2; exit }' "$f")"
    [[ "$ir" =~ ^[0-9]+$ ]] || die "$case: no total Ir in $f"
    total=$((total + ir))
  done
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$REQUESTS" "$WARMUP" "$total" "$seconds" "${#dumps[@]}" >>"$RAW"
  say "  $case: $total Ir over $REQUESTS requests = $((total / REQUESTS)) per request (${seconds}s measured, X-Cache ${xcache//_/ })"
  # Kept for callgrind_annotate (one file per case; the threads' files concatenated, if several).
  # The frames that were on the stack at the zeroing (thread start down to the runtime's block_on)
  # appear with `calls=0`, which callgrind_annotate counts as the caller's own cost: each would
  # show at 100%. calls=1 makes them ordinary call edges; the counts are unchanged.
  mkdir -p "$CARGO_TARGET_DIR/bench"
  sed 's/^calls=0 /calls=1 /' "${dumps[@]}" >"$CARGO_TARGET_DIR/bench/callgrind-$case.out"
}

# ------------------------------------------------------------------ the cases
t0=$SECONDS
start_origin
for case in $CASES; do
  say "case $case"
  t=$SECONDS
  case "$case" in
    edge-hit-1k)
      start_ferry "$case" ferry-edge-hit.toml "${PORT[ferry-http]}" up @CONF@
      say "  ferry listening under callgrind after $((SECONDS - t)) s"
      measure "$case" "${PORT[ferry-http]}" /1k '^Hit'
      ;;
    edge-miss-path)
      start_ferry "$case" ferry-path.toml "${PORT[ferry-http]}" up @CONF@
      wait_port "${PORT[ferry-lb]}" "$ferry_pid" "ferry-$case" "$START_WAIT"
      say "  ferry listening under callgrind after $((SECONDS - t)) s"
      measure "$case" "${PORT[ferry-http]}" /1k '^Miss'
      ;;
    balancer-1k)
      start_ferry "$case" ferry-balancer.toml "${PORT[ferry-lb]}" balancer @CONF@ --zone a
      say "  ferry listening under callgrind after $((SECONDS - t)) s"
      measure "$case" "${PORT[ferry-lb]}" /1k ''
      ;;
  esac
  stop_pid "$ferry_pid" 15
  forget "$ferry_pid"
  say "  $case done in $((SECONDS - t)) s"
done

# ------------------------------------------------------------------ report
stop_all
mkdir -p "$CARGO_TARGET_DIR/bench"
json="$CARGO_TARGET_DIR/bench/callgrind.json"
python3 "$here/report.py" "$RAW" "$json" --baseline "$BASELINE" --threshold "$THRESHOLD" \
  ${update_baseline:+--update-baseline} \
  --date "$(date -u +%Y-%m-%d)" \
  --cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
  --valgrind "$(valgrind --version)" --tunables "$TUNABLES" \
  --command "benches/callgrind/run.sh ($WARMUP warm-up + $REQUESTS measured requests per case, sequential, one keep-alive connection; ferry with one worker thread under valgrind --tool=callgrind)" \
  --ferry "$("$FERRY" --version 2>/dev/null || echo ferry) $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || true) (binary of $(date -u -r "$FERRY" +%Y-%m-%dT%H:%MZ)${newer:+, older than the sources})"
say "JSON: $json; took $((SECONDS - t0)) s"
