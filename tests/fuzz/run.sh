#!/bin/sh
# Usage: tests/fuzz/run.sh SECONDS [extra libFuzzer flags]
#
# Configures and builds the differential fuzz target in build-fuzz (clang-14,
# libFuzzer + ASan + UBSan; tests/fuzz/CMakeLists.txt instruments anvil_parser
# and llhttp with -fsanitize=fuzzer-no-link,address,undefined), then fuzzes for
# SECONDS over a copy of the checked-in seed corpus (tests/fuzz/corpus/, which
# stays untouched). Exits non-zero on any finding; the input that triggered it
# is saved under build-fuzz/fuzz-artifacts/ and can be replayed with
#   build-fuzz/bin/parser_fuzz build-fuzz/fuzz-artifacts/crash-...
# Environment: ANVIL_FUZZ_BUILD_DIR (default: <repo>/build-fuzz), JOBS (build, default 2).
set -eu

if [ $# -lt 1 ]; then
  echo "usage: $0 SECONDS [libFuzzer flags...]" >&2
  exit 2
fi
seconds=$1
shift

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${ANVIL_FUZZ_BUILD_DIR:-$root/build-fuzz}

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
    -DANVIL_FUZZ=ON -DANVIL_BUILD_BENCH=OFF -DPYTHON_EXECUTABLE=/usr/bin/python3 >/dev/null
fi
cmake --build "$build" -j"${JOBS:-2}" --target parser_fuzz

work="$build/fuzz-corpus"
artifacts="$build/fuzz-artifacts"
rm -rf "$work"
mkdir -p "$work" "$artifacts"
cp "$here"/corpus/* "$work"/

echo "fuzzing for ${seconds}s (corpus copy: $work, findings: $artifacts)"
status=0
"$build/bin/parser_fuzz" "$work" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
  -dict="$here/http.dict" \
  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" "$@" || status=$?
if [ "$status" -ne 0 ]; then
  echo "parser_fuzz: FINDING (exit $status); reproducer(s):" >&2
  ls -t "$artifacts" | head -5 | sed "s|^|  $artifacts/|" >&2
  exit 1
fi
echo "parser_fuzz: no finding in ${seconds}s"
