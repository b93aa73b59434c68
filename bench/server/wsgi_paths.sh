#!/bin/bash
# The WSGI paths side by side on one interpreter: server CPU per request
# (user+sys of the server process from /proc, over a counted hammer run of
# keep-alive chrome-2013 requests, after a warm-up run), server pinned to CPU
# 0 and hammer to CPU 1, the paths interleaved round by round so that they
# share the machine's load. `--native hello` is the floor (no Python per
# request): a path's figure minus it is "the app call through WSGI".
#
#   bench/server/wsgi_paths.sh PYTHON ROUNDS REQUESTS PATH...   (PATH: capi|python|cffi|native)
#
# Prints one line per run and the median (min-max) per path. Needs make build.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
py=$1 rounds=$2 requests=$3
shift 3
. "$ROOT/bench/server/wsgi_server.sh"
req=$(mktemp /tmp/anvil-ka.XXXXXX.http)
trap 'rm -f "$req"' EXIT
grep -v -i '^connection:' "$ROOT/bench/requests/chrome-2013.http" >"$req"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A results
echo "wsgi_paths: $py, $rounds rounds of $requests requests, load average $(cut -d' ' -f1-3 /proc/loadavg), commit $(git -C "$ROOT" rev-parse --short HEAD)"
for round in $(seq "$rounds"); do
  for path in "$@"; do
    log=$(mktemp)
    start_wsgi_server "$py" "$path" "$log"
    hammer_run "$requests" "$req"
    t0=$(cpu_ticks "$pid")
    hammer_run "$requests" "$req"
    t1=$(cpu_ticks "$pid")
    stop_wsgi_server
    rm -f "$log"
    us=$(awk -v t="$((t1 - t0))" -v n="$requests" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", t / hz / n * 1e6}')
    echo "  round $round $path: $us us CPU/request"
    results[$path]+="$us "
  done
done
for path in "$@"; do
  echo "${results[$path]}" | tr ' ' '\n' | grep . | sort -n | awk -v p="$path" '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%-7s %.2f us (%.2f-%.2f), %d runs\n", p, m, a[1], a[NR], NR}'
done
