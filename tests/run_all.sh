#!/bin/bash
# make test, in order, with each step's time. The sanitizer and fuzz builds
# (make test-builds: build-asan, build-asan-py, build-tsan, build-fuzz) start at
# once, in the background at the lowest CPU priority (nice 19), while the plain
# suites run: those suites spend most of their time waiting on servers they
# start, and a nice-19 compiler takes only the CPU they leave. The sanitizer
# suites then run on builds that are already there. Output of the background
# builds: <build>/test-builds.log, printed only when they fail.
# Environment: MAKE (the make that called it), BUILD (the plain build folder).
set -uo pipefail
make=${MAKE:-make}
build=${BUILD:-build}
log=$build/test-builds.log
mkdir -p "$build"

setsid nice -n 19 "$make" --no-print-directory test-builds >"$log" 2>&1 &
builds=$!
trap 'kill -- -"$builds" 2>/dev/null' EXIT

step() {
  local t0=$SECONDS
  if ! "$make" --no-print-directory "$1"; then
    echo "make test: $1 FAILED after $((SECONDS - t0)) s"
    exit 1
  fi
  echo "make test: $1 passed in $((SECONDS - t0)) s"
}

for t in format-check test-unit test-python test-install test-cluster test-bench; do
  step "$t"
done
t0=$SECONDS
if ! wait "$builds"; then
  tail -n 60 "$log"
  echo "make test: the sanitizer and fuzz builds (make test-builds) FAILED; whole log: $log"
  exit 1
fi
trap - EXIT
echo "make test: test-builds finished $((SECONDS - t0)) s after the plain suites (log: $log)"
for t in test-asan test-asan-python test-tsan test-fuzz test-soak; do
  step "$t"
done
echo "make test: every suite passed in $SECONDS s"
