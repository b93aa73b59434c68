#!/bin/sh
# Usage: bench/loadgen/run.sh [--quick]
#
# hammer beside wrk (keep-alive), ab (a new connection per request) and locust
# (FastHttpUser), one client process or thread pinned to CPU 0, against nginx
# (return 200, 1 worker) and anvil-native hello pinned to CPU 1. Highest
# requests/s over a few connection counts, 3 repetitions (median, min, max),
# client CPU time per request from the client's rusage. Writes
# bench/results/loadgen.json and the "## Load generator" table of bench/README.md.
# --quick: one short repetition, printed only.
# Environment: ANVIL_BUILD_DIR (default <repo>/build), JOBS (default 2).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${ANVIL_BUILD_DIR:-$root/build}

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPYTHON_EXECUTABLE=/usr/bin/python3 >/dev/null
fi
cmake --build "$build" -j"${JOBS:-2}" --target hammer
cmake --build "$build" -j"${JOBS:-2}" --target anvil-native 2>/dev/null || \
  echo "bench/loadgen: anvil-native does not build; measuring against nginx only" >&2

exec /usr/bin/python3 "$here/bench.py" --bin "$build/bin" --root "$root" "$@"
