#!/bin/sh
# Usage: tests/fuzz/run.sh [--grow] SECONDS [extra libFuzzer flags]
#        tests/fuzz/run.sh --build-only
#
# Configures and builds the fuzz targets in build-fuzz (clang-14, libFuzzer +
# ASan + UBSan; tests/fuzz/CMakeLists.txt instruments anvil_parser, llhttp and
# anvil_response with -fsanitize=fuzzer-no-link,address,undefined), then
# fuzzes each target in turn over a copy of its checked-in seed corpus,
# SECONDS split evenly between the targets:
#   parser_fuzz    corpus/           (differential, requests and responses)
#   response_fuzz  corpus-response/  (hammer's side: response streams)
#   chunk_fuzz     corpus-chunk/     (the server's body framing and output queue)
#   head_fuzz      corpus-head/      (the server's response-head validation)
# Without --grow the checked-in corpora stay untouched. With --grow (make fuzz),
# each target then merges the inputs that add coverage into its checked-in
# corpus (libFuzzer -merge=1; new files are named by their SHA-1).
# Exits non-zero on any finding; the input that triggered it is saved under
# build-fuzz/fuzz-artifacts/ and can be replayed with
#   build-fuzz/bin/<target> build-fuzz/fuzz-artifacts/crash-...
# --build-only configures and builds the targets and fuzzes nothing (make
# test-builds).
# Environment: ANVIL_FUZZ_BUILD_DIR (default: <repo>/build-fuzz), JOBS (build, default 2).
set -eu

grow=0
build_only=0
if [ "${1:-}" = "--build-only" ]; then
  build_only=1
  set -- 0
fi
if [ "${1:-}" = "--grow" ]; then
  grow=1
  shift
fi
if [ $# -lt 1 ]; then
  echo "usage: $0 [--grow] SECONDS [libFuzzer flags...]" >&2
  exit 2
fi
seconds=$1
shift

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${ANVIL_FUZZ_BUILD_DIR:-$root/build-fuzz}
# target:corpus folder, in the order they run.
targets="parser_fuzz:corpus response_fuzz:corpus-response chunk_fuzz:corpus-chunk head_fuzz:corpus-head"
count=$(echo "$targets" | wc -w)
each=$((seconds / count))
[ "$each" -ge 1 ] || each=1

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
    -DANVIL_FUZZ=ON -DANVIL_BUILD_BENCH=OFF -DPYTHON_EXECUTABLE=/usr/bin/python3 >/dev/null
fi
for entry in $targets; do
  cmake --build "$build" -j"${JOBS:-2}" --target "${entry%%:*}"
done
[ "$build_only" -eq 0 ] || exit 0

artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
for entry in $targets; do
  target=${entry%%:*}
  corpus="$here/${entry#*:}"
  work="$build/fuzz-$target"
  rm -rf "$work"
  mkdir -p "$work"
  cp "$corpus"/* "$work"/
  echo "$target: fuzzing for ${each}s (corpus copy: $work, findings: $artifacts)"
  status=0
  "$build/bin/$target" "$work" -max_total_time="$each" -max_len=4096 -timeout=10 \
    -dict="$here/http.dict" \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" "$@" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "$target: FINDING (exit $status); reproducer(s):" >&2
    ls -t "$artifacts" | head -5 | sed "s|^|  $artifacts/|" >&2
    exit 1
  fi
  echo "$target: no finding in ${each}s"
  if [ "$grow" -eq 1 ]; then
    before=$(ls "$corpus" | wc -l)
    "$build/bin/$target" -merge=1 "$corpus" "$work" -max_len=4096 -timeout=10 \
      -rss_limit_mb=2048 -artifact_prefix="$artifacts/" 2>"$build/merge-$target.log" || {
      echo "$target: merge failed; see $build/merge-$target.log" >&2
      exit 1
    }
    echo "$target: corpus $corpus grew from $before to $(ls "$corpus" | wc -l) inputs"
  fi
done
