# Shell helpers shared by the benchmark harnesses (benches/wrk/run.sh, benches/callgrind/run.sh):
# installing tools, claiming ports, and stopping every process a harness started. Sourced after
# the harness defines `say` and `die`.

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root (or sudo) to run: $*"; fi
}

apt_updated=""
need_apt() {   # need_apt COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  [ -x "/usr/sbin/$1" ] && return 0
  say "installing $2 (for $1)"
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

listening_ports() {   # (mawk has no strtonum: hex to decimal in bash)
  local h
  for h in $(awk 'NR > 1 && $4 == "0A" { n = split($2, a, ":"); print a[n] }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null || true); do echo $((16#$h)); done | sort -un
}

# claim_ports BASE NAME...: PORT[NAME] = BASE, BASE+1, ...; refuses to go on when one is taken,
# naming it (listening sockets from /proc/net/tcp{,6}).
declare -A PORT
claim_ports() {
  local base=$1 i=0 n p taken
  shift
  for n in "$@"; do PORT[$n]=$((base + i)); i=$((i + 1)); done
  taken="$(listening_ports)"
  for n in "$@"; do
    p="${PORT[$n]}"
    if grep -qx "$p" <<<"$taken"; then
      die "port $p (for $n) is taken on this machine: stop what listens there, or choose other ports with BENCH_PORT_BASE ($# consecutive ports)"
    fi
  done
}

started=()   # every PID the harness started
stop_pid() {   # stop_pid PID [SECONDS]: TERM, KILL after SECONDS (5); the PID's own children too
  local pid=$1 wait=${2:-5} kids t k
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kids="$(children_of "$pid")"
  kill -TERM "$pid" 2>/dev/null || true
  for t in $(seq $((wait * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  for k in $kids; do kill -0 "$k" 2>/dev/null && kill -KILL "$k" 2>/dev/null || true; done
  wait "$pid" 2>/dev/null || true
}
stop_all() {
  local pid
  for pid in "${started[@]}"; do stop_pid "$pid"; done
  started=()
}

children_of() {   # every descendant PID of $1
  local want=$1 out="" p st rest ppid changed=1
  local -A set=([$want]=1)
  while [ $changed = 1 ]; do
    changed=0
    for st in /proc/[0-9]*/stat; do
      p="${st#/proc/}"; p="${p%/stat}"
      [ -n "${set[$p]:-}" ] && continue
      rest="$(cat "$st" 2>/dev/null)" || continue
      rest="${rest##*) }"
      ppid="$(cut -d' ' -f2 <<<"$rest")"
      if [ -n "${set[$ppid]:-}" ]; then set[$p]=1; out="$out $p"; changed=1; fi
    done
  done
  echo $out
}

# render_conf TEMPLATE NAME WORKERS COMMON_INC -> $RUN/conf/NAME.<ext> (its path on stdout), with
# @RUN@, @NAME@, @WORKERS@ and @<PORT NAME>_PORT@ (the name of every claimed port, upper case,
# `-` as `_`: ferry-http is @FERRY_HTTP_PORT@) filled in. An nginx config gets its own copy of
# COMMON_INC beside it, as nginx-common-NAME.inc.
render_conf() {
  local src=$1 name=$2 workers=$3 common=$4 dst key placeholder
  local args=(-e "s|@RUN@|$RUN|g" -e "s|@NAME@|$name|g" -e "s|@WORKERS@|$workers|g")
  for key in "${!PORT[@]}"; do
    placeholder="${key^^}"
    args+=(-e "s|@${placeholder//-/_}_PORT@|${PORT[$key]}|g")
  done
  dst="$RUN/conf/$name.${src##*.}"
  sed "${args[@]}" "$src" >"$dst"
  if [[ "$src" == *.nginx.conf ]]; then
    sed -e "s|@RUN@|$RUN|g" -e "s|@NAME@|$name|g" "$common" >"$RUN/conf/nginx-common-$name.inc"
  fi
  echo "$dst"
}
