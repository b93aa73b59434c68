#!/bin/sh
# Usage: bench/parser/run.sh [--quick]
#
# Builds parser_bench (Release) and runs both parsers on every workload,
# pinned to one core (taskset -c 1), 5 repetitions, median and min–max. Writes
# bench/results/parser.json (with CPU model, date and commit) and the table in
# bench/README.md's "## Parser" section. --quick: one short run, table printed
# only (make demo).
# Environment: ANVIL_BUILD_DIR (default <repo>/build), JOBS (default 2),
# ANVIL_COMMIT (the commit to record when the tree has no .git).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${ANVIL_BUILD_DIR:-$root/build}
quick=0
[ "${1:-}" = "--quick" ] && quick=1

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPYTHON_EXECUTABLE=/usr/bin/python3 >/dev/null
fi
cmake --build "$build" -j"${JOBS:-2}" --target parser_bench

cpu=1
pin=""
# Pin to CPU 1 when the machine has it, away from CPU 0's interrupts.
if command -v taskset >/dev/null && taskset -c "$cpu" true 2>/dev/null; then
  pin="taskset -c $cpu"
else
  cpu="none"
fi

# The machine may be shared: record how busy it was (CPU time is reported, which
# other processes inflate less than wall time).
load=$(cut -d' ' -f1-3 /proc/loadavg)
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
if [ "$quick" -eq 1 ]; then
  reps=1
  $pin "$build/bin/parser_bench" --benchmark_min_time=0.05 \
    --benchmark_out="$raw" --benchmark_out_format=json >/dev/null
  /usr/bin/python3 "$here/report.py" "$raw" --pinned-cpu "$cpu" --repetitions "$reps" --load "$load" \
    --commit "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --cpu-model "$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  exit 0
fi

reps=5
$pin "$build/bin/parser_bench" --benchmark_repetitions=$reps \
  --benchmark_report_aggregates_only=true \
  --benchmark_out="$raw" --benchmark_out_format=json
# ANVIL_COMMIT names the commit when the tree is an export without .git
# (git archive HEAD), e.g. to measure a committed state while others edit.
commit=${ANVIL_COMMIT:-$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)}
if [ -z "${ANVIL_COMMIT:-}" ] && [ -n "$(git -C "$root" status --porcelain -- parser bench/parser 2>/dev/null)" ]; then
  commit="$commit+dirty"
fi
mkdir -p "$root/bench/results"
/usr/bin/python3 "$here/report.py" "$raw" --pinned-cpu "$cpu" --repetitions "$reps" --load "$load" \
  --commit "$commit" --cpu-model "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" \
  --results "$root/bench/results/parser.json" --readme "$root/bench/README.md"
