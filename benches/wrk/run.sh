#!/usr/bin/env bash
# ferry beside nginx, Varnish and HAProxy with wrk, in one run on this machine (issue 9, item 2).
#
#   benches/wrk/run.sh          # from the repository root; needs root (or sudo) only to install
#
# Installs nginx, varnish, haproxy and wrk when missing, builds ferry in release, starts an nginx
# origin (fixed 1 KiB and 100 KiB bodies, Cache-Control: max-age=3600) and, case by case, ferry
# and its peers with the committed configs of benches/wrk/conf/. Runs alternate ferry and peers
# (A B C A B C ...), each `wrk -t2 -c64 -d10s --latency` after a warm-up request, and measure
# req/s, p50, p99, CPU time per request (user+system ticks from /proc/PID/stat of every process
# of the server, over the run, divided by requests) and peak RSS (VmHWM, summed over the
# server's processes). Prints a Markdown table; writes JSON to $CARGO_TARGET_DIR/bench/.
#
# Knobs (environment): BENCH_RUNS (3), BENCH_DURATION (10s), BENCH_CONNECTIONS (64),
# BENCH_THREADS (wrk threads, 2), BENCH_WORKERS (workers/threads of every server, 2),
# BENCH_PORT_BASE (18180: the harness uses 12 ports from there), BENCH_CASES (all: a space-separated
# subset of hit-1k hit-100k miss-1k lb-1k https-hit-1k https-handshake), BENCH_DELAY_MS (0: each
# connection waits this long between a response and its next request (pace.lua), for the same
# offered load on every server: latency at equal load rather than at each one's saturation, where
# wrk on the same cores becomes the bottleneck of the fastest and its queueing shows in p99),
# BENCH_PERF (unset: a directory where each of ferry's runs is also recorded with `perf record -g`,
# CASE-rN.data, to see where its time goes; perf adds its own cost to those runs' figures),
# BENCH_SYSCALLS (unset: 1 counts every server's system calls, context switches and CPU migrations per
# request with `perf stat`, and the machine's TCP segments per request, shown in the progress lines), BENCH_PIN_THREADS (0: 1 runs ferry with `[edge] pin_threads = true`).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
conf_dir="$here/conf"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
RUNS="${BENCH_RUNS:-3}"
DURATION="${BENCH_DURATION:-10s}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
WRK_THREADS="${BENCH_THREADS:-2}"
WORKERS="${BENCH_WORKERS:-2}"   # every server's, ferry's with --threads
PORT_BASE="${BENCH_PORT_BASE:-18180}"
CASES="${BENCH_CASES:-hit-1k hit-100k miss-1k lb-1k https-hit-1k https-handshake}"
DELAY_MS="${BENCH_DELAY_MS:-0}"
case "${BENCH_PIN_THREADS:-0}" in
  0) PIN_THREADS=false ;;
  1) PIN_THREADS=true ;;
  *) echo "run.sh: BENCH_PIN_THREADS must be 0 or 1, not $BENCH_PIN_THREADS" >&2; exit 1 ;;
esac

say() { echo "run.sh: $*" >&2; }
die() { say "$*"; exit 1; }
[[ "$DELAY_MS" =~ ^[0-9]+$ ]] || die "BENCH_DELAY_MS must be a whole number of milliseconds, not $DELAY_MS"
PACE=()
pace_note=""
if [ "$DELAY_MS" != 0 ]; then
  PACE=(-s "$here/pace.lua")
  export WRK_DELAY_MS="$DELAY_MS"
  pace_note=", ${DELAY_MS} ms between a response and the next request"
fi
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# ------------------------------------------------------------------ tools
need_apt nginx nginx
need_apt varnishd varnish
need_apt haproxy haproxy
need_apt wrk wrk
need_apt openssl openssl
need_apt curl curl
need_apt python3 python3
export PATH="$PATH:/usr/sbin:/sbin"

# The Debian packages start their own services on install; the harness starts its own instances
# on its own ports and leaves the system's services as they are.

# ------------------------------------------------------------------ ports
# Refuse to start when a port is taken, naming it (listening sockets from /proc/net/tcp{,6}).
claim_ports "$PORT_BASE" origin1 origin2 ferry-http ferry-https ferry-lb ferry-lb2 nginx-http nginx-https \
  varnish haproxy spare1 spare2

# ------------------------------------------------------------------ cleanup
RUN="$(mktemp -d /tmp/ferry-wrk.XXXXXX)"
chmod 755 "$RUN"   # nginx workers drop privileges and read the bodies from here
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all
  rm -rf "$RUN"
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted: stopping everything it started"; exit 130' INT TERM

# ------------------------------------------------------------------ /proc
server_pids() {   # the root PIDs of a server and all their descendants
  local p
  for p in "$@"; do echo "$p"; children_of "$p" | tr ' ' '\n'; done | grep -v '^$' | sort -un
}
tcp_out_segs() {   # TCP segments the machine has sent (every process: client, server, origin)
  awk '$1 == "Tcp:" && $2 ~ /^[0-9]/ { print $12 }' /proc/net/snmp
}
ticks_of() {   # "pid:ticks ..." (utime+stime, all threads) for every process of a server
  local p rest
  for p in $(server_pids "$@"); do
    rest="$(cat /proc/"$p"/stat 2>/dev/null)" || continue
    rest="${rest##*) }"
    # after "comm) ": field 3 is state, so utime (14) and stime (15) are the 12th and 13th here
    echo "$p:$(awk '{ print $12 + $13 }' <<<"$rest")"
  done | tr '\n' ' '
}
hwm_kib() {   # VmHWM summed over every process of a server
  local p total=0 v
  for p in $(server_pids "$@"); do
    v="$(awk '/^VmHWM:/ { print $2 }' /proc/"$p"/status 2>/dev/null)" || v=0
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# ------------------------------------------------------------------ build and setup
say "building ferry (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
(cd "$repo" && cargo build --release --quiet)
FERRY="$CARGO_TARGET_DIR/release/ferry"
[ -x "$FERRY" ] || die "no ferry binary at $FERRY after the build"

mkdir -p "$RUN/conf" "$RUN/www" "$RUN/tls" "$RUN/nginx-tmp" "$RUN/logs"
# 3 random bytes are 4 base64 characters: exact sizes without cutting a pipe short (which, under
# pipefail, failed the run whenever base64 had not finished writing when head exited).
head -c 768 /dev/urandom | base64 -w0 >"$RUN/www/1k"
head -c 76800 /dev/urandom | base64 -w0 >"$RUN/www/100k"
chmod 644 "$RUN/www/"*
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=bench.test" \
  -addext "subjectAltName=DNS:bench.test,DNS:localhost,IP:127.0.0.1" \
  -keyout "$RUN/tls/key.pem" -out "$RUN/tls/cert.pem" 2>/dev/null

render() {   # render TEMPLATE NAME -> $RUN/conf/NAME.<ext>, placeholders filled in
  local c
  c="$(render_conf "$conf_dir/$1" "$2" "$WORKERS" "$conf_dir/nginx-common.inc")"
  sed -i "s|@PIN_THREADS@|$PIN_THREADS|g" "$c"
  echo "$c"
}

wait_port() {   # wait_port PORT PID WHAT
  local t
  for t in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || die "$3 exited at start; its log: $(tail -5 "$RUN/logs/$3.log" 2>/dev/null)"
    sleep 0.1
  done
  die "$3 does not listen on 127.0.0.1:$1 after 10 s"
}

start_nginx() {   # start_nginx TEMPLATE NAME PORT -> PID in $pid
  local c
  c="$(render "$1" "$2")"
  nginx -t -q -e "$RUN/logs/$2.log" -c "$c" -p "$RUN" >/dev/null 2>&1 ||
    die "nginx rejects $c: $(nginx -t -e "$RUN/logs/$2.log" -c "$c" -p "$RUN" 2>&1 | tail -3)"
  nginx -e "$RUN/logs/$2.log" -c "$c" -p "$RUN" -g 'daemon off;' >>"$RUN/logs/$2.log" 2>&1 &
  pid=$!; started+=("$pid")
  wait_port "$3" "$pid" "$2"
}
start_haproxy() {
  local c
  c="$(render haproxy.cfg haproxy)"
  haproxy -c -q -f "$c" >/dev/null 2>&1 || die "haproxy rejects $c: $(haproxy -c -f "$c" 2>&1 | tail -3)"
  haproxy -db -f "$c" >"$RUN/logs/haproxy.log" 2>&1 &
  pid=$!; started+=("$pid")
  wait_port "${PORT[haproxy]}" "$pid" haproxy
}
start_varnish() {
  local c
  c="$(render varnish.vcl varnish)"
  # -j none: no privilege-separation jail (the harness may run as root in a temp dir)
  varnishd -F -j none -n "$RUN/varnish" -a "127.0.0.1:${PORT[varnish]}" -T 127.0.0.1:0 -f "$c" \
    -s malloc,256m -p thread_pools="$WORKERS" >"$RUN/logs/varnish.log" 2>&1 &
  pid=$!; started+=("$pid")
  wait_port "${PORT[varnish]}" "$pid" varnish
}
start_ferry() {   # start_ferry TEMPLATE PORT
  local c
  c="$(render "$1" "ferry-${1%.toml}")"
  "$FERRY" validate "$c" >"$RUN/logs/ferry-validate.log" 2>&1 ||
    die "ferry validate rejects $c: $(cat "$RUN/logs/ferry-validate.log")"
  FERRY_LOG="${FERRY_LOG:-warn}" "$FERRY" up --threads "$WORKERS" "$c" >"$RUN/logs/ferry.log" 2>&1 &
  pid=$!; started+=("$pid")
  wait_port "$2" "$pid" ferry
}
stop_case() {   # stop every server but the origin
  local keep=() p
  for p in "${started[@]}"; do
    [ -n "$p" ] || continue
    if [ "$p" = "$origin_pid" ]; then keep+=("$p"); else stop_pid "$p"; fi
  done
  started=("${keep[@]}")
}

# ------------------------------------------------------------------ one run
RAW="$RUN/raw.tsv"
perf_runs=0
: >"$RAW"
to_us() {   # "1.23ms" -> 1230
  awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    f = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : (u == "m") ? 60000000 : 1;
    printf "%.1f", n * f }'
}
warm() {   # warm URL WHAT: one request (two for a cache: fill, then hit), must be a 200
  local code
  code="$(curl -sk -o /dev/null -w '%{http_code}' "$1")" || code=000
  [ "$code" = 200 ] || die "warm-up of $2 ($1) answered $code"
  curl -sk -o /dev/null -D "$RUN/logs/headers" "$1" || true
  local h
  h="$(grep -i -E '^(x-cache|x-cache-status|age|x-varnish):' "$RUN/logs/headers" | tr -d '\r' | tr '\n' ' ' || true)"
  say "  warm $2: ${h:-200}"
}
bench() {   # bench CASE SERVER URL PIDS...
  local case=$1 server=$2 url=$3; shift 3
  local before after out reqs rps p50 p99 errs non2xx rss ticks
  before="$(ticks_of "$@")"
  local perf_pid=""
  if [ -n "${BENCH_PERF:-}" ] && [ "$server" = ferry ]; then
    mkdir -p "$BENCH_PERF"
    perf_runs=$((perf_runs + 1))
    # Not in `started`: perf ends with the processes it records, which the harness stops.
    perf record -q -g -p "$(server_pids "$@" | paste -sd,)" -o "$BENCH_PERF/$case-r$perf_runs.data" \
      >"$RUN/logs/perf.log" 2>&1 &
    perf_pid=$!
  fi
  local stat_pid="" segs_before=""
  if [ -n "${BENCH_SYSCALLS:-}" ]; then
    segs_before="$(tcp_out_segs)"
    perf stat -x, -e raw_syscalls:sys_enter,context-switches,cpu-migrations -p "$(server_pids "$@" | paste -sd,)" -o "$RUN/logs/syscalls" &
    stat_pid=$!
  fi
  # wrk in the background and `wait`: an interrupt then stops the harness at once, wrk included
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${PACE[@]}" "${WRK_EXTRA[@]}" "$url" >"$RUN/logs/wrk.out" 2>&1 &
  local wpid=$!
  started+=("$wpid")
  wait "$wpid" || die "wrk failed for $case/$server: $(cat "$RUN/logs/wrk.out")"
  local keep=() p
  for p in "${started[@]}"; do [ "$p" = "$wpid" ] || keep+=("$p"); done
  started=("${keep[@]}")
  out="$(cat "$RUN/logs/wrk.out")"
  after="$(ticks_of "$@")"
  for p in $perf_pid $stat_pid; do
    kill -INT "$p" 2>/dev/null || true
    wait "$p" || true
  done
  rss="$(hwm_kib "$@")"
  ticks="$(python3 - "$before" "$after" <<'PY'
import sys
b = dict(x.split(":") for x in sys.argv[1].split())
a = dict(x.split(":") for x in sys.argv[2].split())
print(sum(int(t) - int(b.get(p, 0)) for p, t in a.items()))
PY
)"
  reqs="$(awk '/requests in/ { print $1 }' <<<"$out")"
  rps="$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")"
  p50="$(to_us "$(awk '$1 == "50%" { print $2 }' <<<"$out")")"
  p99="$(to_us "$(awk '$1 == "99%" { print $2 }' <<<"$out")")"
  errs="$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' <<<"$out")"
  non2xx="$(awk '/Non-2xx or 3xx responses:/ { print $5 }' <<<"$out")"
  [ -n "$reqs" ] && [ -n "$rps" ] || die "cannot read wrk's output for $case/$server: $out"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$server" "$rps" "$p50" "$p99" \
    "$reqs" "$ticks" "$rss" "${errs:-0}" "${non2xx:-0}" >>"$RAW"
  local calls=""
  if [ -n "$stat_pid" ]; then
    calls="$(awk -F, -v n="$reqs" -v segs="$(( $(tcp_out_segs) - segs_before ))" '/raw_syscalls/ { printf ", %.2f system calls", $1 / n } /context-switches/ { printf ", %.3f context switches", $1 / n } /cpu-migrations/ { printf ", %.4f migrations", $1 / n } END { printf ", %.2f TCP segments (machine-wide) per request", segs / n }' "$RUN/logs/syscalls")"
  fi
  say "  $case $server: $rps req/s, p50 ${p50}us, p99 ${p99}us, $ticks ticks, RSS ${rss} KiB${errs:+, socket errors $errs}${non2xx:+, non-2xx $non2xx}$calls"
}

# run_case CASE PATH SERVER=URL=PIDVAR... : warm each, then RUNS rounds alternating servers
run_case() {
  local case=$1 path=$2; shift 2
  local r spec name url pids
  for spec in "$@"; do
    IFS='=' read -r name url pids <<<"$spec"
    warm "$url$path" "$name"
  done
  for r in $(seq "$RUNS"); do
    for spec in "$@"; do
      IFS='=' read -r name url pids <<<"$spec"
      # shellcheck disable=SC2086
      bench "$case" "$name" "$url$path" ${pids//,/ }
    done
  done
}

# ------------------------------------------------------------------ the cases
start_nginx origin.nginx.conf origin "${PORT[origin1]}"
origin_pid=$pid
wait_port "${PORT[origin2]}" "$origin_pid" origin

F_HTTP="http://127.0.0.1:${PORT[ferry-http]}"
F_HTTPS="https://127.0.0.1:${PORT[ferry-https]}"
F_LB="http://127.0.0.1:${PORT[ferry-lb]}"
N_HTTP="http://127.0.0.1:${PORT[nginx-http]}"
N_HTTPS="https://127.0.0.1:${PORT[nginx-https]}"
V_HTTP="http://127.0.0.1:${PORT[varnish]}"
H_HTTP="http://127.0.0.1:${PORT[haproxy]}"

for case in $CASES; do
  say "case $case"
  WRK_EXTRA=()
  case "$case" in
    hit-1k | hit-100k)
      path="/${case#hit-}"
      start_ferry ferry-edge.toml "${PORT[ferry-http]}"; fp=$pid
      start_nginx cache.nginx.conf nginx-cache "${PORT[nginx-http]}"; np=$pid
      start_varnish; vp=$pid
      run_case "$case" "$path" "ferry=$F_HTTP=$fp" "nginx=$N_HTTP=$np" "varnish=$V_HTTP=$vp"
      ;;
    https-hit-1k)
      start_ferry ferry-edge.toml "${PORT[ferry-https]}"; fp=$pid
      start_nginx cache.nginx.conf nginx-cache "${PORT[nginx-https]}"; np=$pid
      run_case "$case" /1k "ferry=$F_HTTPS=$fp" "nginx=$N_HTTPS=$np"
      ;;
    https-handshake)
      # Every request on a new connection: a full TLS handshake (TLS 1.3, X25519, RSA 2048
      # certificate) per request, so req/s is handshakes/s.
      WRK_EXTRA=(-H "Connection: close")
      start_ferry ferry-edge.toml "${PORT[ferry-https]}"; fp=$pid
      start_nginx cache.nginx.conf nginx-cache "${PORT[nginx-https]}"; np=$pid
      run_case "$case" /1k "ferry=$F_HTTPS=$fp" "nginx=$N_HTTPS=$np"
      ;;
    miss-1k)
      start_ferry ferry-path.toml "${PORT[ferry-http]}"; fp=$pid
      wait_port "${PORT[ferry-lb]}" "$fp" ferry
      start_haproxy; hp=$pid
      start_nginx proxy.nginx.conf nginx-proxy "${PORT[nginx-http]}"; np=$pid
      run_case "$case" /1k "ferry=$F_HTTP=$fp" "nginx+haproxy=$N_HTTP=$np,$hp"
      ;;
    lb-1k)
      start_ferry ferry-balancer.toml "${PORT[ferry-lb]}"; fp=$pid
      start_haproxy; hp=$pid
      start_nginx upstream.nginx.conf nginx-upstream "${PORT[nginx-http]}"; np=$pid
      run_case "$case" /1k "ferry=$F_LB=$fp" "haproxy=$H_HTTP=$hp" "nginx=$N_HTTP=$np"
      ;;
    *) die "unknown case $case (cases: hit-1k hit-100k miss-1k lb-1k https-hit-1k https-handshake)" ;;
  esac
  stop_case
done

# ------------------------------------------------------------------ report
mkdir -p "$CARGO_TARGET_DIR/bench"
stamp="$(date -u +%Y-%m-%dT%H%M%SZ)"
json="$CARGO_TARGET_DIR/bench/wrk-$stamp.json"
python3 "$here/report.py" "$RAW" "$json" \
  --date "$(date -u +%Y-%m-%d)" --nproc "$(nproc)" \
  --cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
  --clk-tck "$(getconf CLK_TCK)" \
  --command "benches/wrk/run.sh (wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency${pace_note}, $RUNS runs each, alternating; $WORKERS workers/threads per server$([ "$PIN_THREADS" = true ] && echo ", ferry with pin_threads"))" \
  --ferry "$("$FERRY" --version 2>/dev/null || echo ferry) $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || true)"
cp "$json" "$CARGO_TARGET_DIR/bench/wrk-latest.json"
say "JSON: $json (and wrk-latest.json beside it)"
