#!/bin/bash
# Where a WSGI path's time goes, beside `--native hello` (no Python per
# request). Per path, three hammer runs of keep-alive chrome-2013 requests,
# server pinned to CPU 0 and hammer to CPU 1, as in wsgi_paths.sh: a warm-up;
# a counted run that gives the server's CPU per request (user and sys from
# /proc, no profiler attached); a run under `perf record` (cpu-clock, 4 kHz)
# that gives how that CPU divides between shared objects and symbols, and
# under `perf stat` its system calls, page faults and context switches. Each share
# is multiplied by the unprofiled CPU per request, so the figures are ns of
# the server's CPU per request, free of perf's own overhead. Prints, per
# path, the split by shared object, then each path minus native by shared
# object and by symbol: what "the app call through WSGI" (step 3 - step 4 of
# the survey's ladder) is made of.
#
# On a virtual machine the kernel's timer interrupt is held while interrupts
# are off, so kernel samples pile up where they are turned back on
# (pvm_irq_enable, _raw_spin_unlock_irqrestore): trust the kernel's total,
# not its split.
#
#   bench/server/wsgi_profile.sh PYTHON REQUESTS PATH...   (PATH: capi|python|cffi|native)
#
# JIT-compiled code (PyPy's) has no symbols: perf files it under [JIT] or
# [unknown]. Needs make build and perf (linux-perf).
set -euo pipefail
command -v perf >/dev/null || { echo "wsgi_profile: perf is missing (Debian: apt-get install linux-perf)" >&2; exit 1; }
[ $# -ge 3 ] || { echo "usage: $0 PYTHON REQUESTS PATH...   (PATH: capi|python|cffi|native)" >&2; exit 2; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
py=$1 requests=$2
shift 2
. "$ROOT/bench/server/wsgi_server.sh"
work=$(mktemp -d /tmp/anvil-profile.XXXXXX)
trap 'rm -rf "$work"' EXIT
grep -v -i '^connection:' "$ROOT/bench/requests/chrome-2013.http" >"$work/req.http"
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }  # user, sys (clock ticks)
echo "wsgi_profile: $py, $requests requests per path, load average $(cut -d' ' -f1-3 /proc/loadavg), commit $(git -C "$ROOT" rev-parse --short HEAD)"
for path in "$@"; do
  start_wsgi_server "$py" "$path" "$work/$path.log"
  hammer_run "$requests" "$work/req.http"
  read -r u0 s0 < <(cpu_ticks "$pid")
  hammer_run "$requests" "$work/req.http"
  read -r u1 s1 < <(cpu_ticks "$pid")
  per_request() { awk -v t="$1" -v n="$requests" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.0f", t / hz / n * 1e9}'; }
  cpu_ns=$(per_request $((u1 + s1 - u0 - s0)))
  echo "$path: $cpu_ns ns of server CPU per request (unprofiled run): user $(per_request $((u1 - u0))), sys $(per_request $((s1 - s0)))"
  perf record -q -e cpu-clock -F 4000 -p "$pid" -o "$work/$path.data" 2>/dev/null &
  perf_pid=$!
  perf stat -x, -e raw_syscalls:sys_enter,page-faults,context-switches -p "$pid" -o "$work/$path.stat" 2>/dev/null &
  stat_pid=$!
  sleep 0.5 # perf attaches before the profiled run (no request is lost to it: idle is not sampled)
  hammer_run "$requests" "$work/req.http"
  kill -INT "$perf_pid" "$stat_pid"
  wait "$perf_pid" "$stat_pid" || true
  grep -v '^#' "$work/$path.stat" | awk -F, -v n="$requests" -v p="$path" \
    'NF > 2 { printf "%s%s %.2f", (done++ ? ", " : p ": per request in the profiled run: "), $3, $1 / n } END { print "" }'
  stop_wsgi_server
  # period|dso|symbol per line; a symbol perf could not name (JIT-compiled
  # code, a stripped library) counts as its object's "(no symbol)".
  perf report -q -i "$work/$path.data" --stdio --sort dso,sym -F period,dso,sym -t '|' 2>/dev/null |
    awk -F'|' -v cpu="$cpu_ns" -v dso="$work/$path.dso" -v sym="$work/$path.sym" '
      NF >= 3 {
        p = $1 + 0; d = $2; s = $3
        gsub(/^ +| +$/, "", d); gsub(/^ +| +$/, "", s); sub(/ tid [0-9]+$/, "", d)
        if (s ~ /^\[.\] 0x[0-9a-f]+$/) s = "(no symbol)"
        byd[d] += p; bys[d " " s] += p; all += p
      }
      END {
        for (k in byd) printf "%.1f\t%s\n", byd[k] / all * cpu, k > dso
        for (k in bys) printf "%.1f\t%s\n", bys[k] / all * cpu, k > sym
      }'
done
for path in "$@"; do
  total=$(awk -F'\t' '{ s += $1 } END { printf "%.0f", s }' "$work/$path.dso")
  echo "== $path: $total ns of server CPU per request, by shared object"
  sort -t$'\t' -k1,1 -gr "$work/$path.dso" | awk -F'\t' '$1 >= 50' | sed 's/^/  /'
done
if [ -f "$work/native.dso" ]; then
  for path in "$@"; do
    [ "$path" = native ] && continue
    for key in dso sym; do
      echo "== $path minus native, by ${key/sym/symbol} (ns per request; |difference| >= 100)"
      awk -F'\t' 'FNR == NR { a[$2] = $1; next } { b[$2] = $1 } END {
          for (k in a) d[k] = a[k] - b[k]; for (k in b) if (!(k in a)) d[k] = -b[k];
          for (k in d) if (d[k] >= 100 || d[k] <= -100) printf "  %+.0f\t%s\n", d[k], k }' \
        "$work/$path.$key" "$work/native.$key" | sort -t$'\t' -k1,1 -gr
    done
  done
fi
