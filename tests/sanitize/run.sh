#!/bin/bash
# Usage: tests/sanitize/run.sh asan|tsan BUILD_DIR [pytest arguments...]
#        (the arguments default to tests/python: give test files to run fewer)
#
# Runs the pytest suite (tests/python) against the `_core` of a sanitizer build
# (`make test-asan-python` and `make test-tsan` configure and build it: the
# _core in BUILD_DIR/python/anvil/), the servers on CPython (/usr/bin/python3,
# or $PYTHON), and fails when a sanitizer reported anything, in any process:
#   asan  _core with AddressSanitizer + UndefinedBehaviorSanitizer (ANVIL_SANITIZE),
#         built with clang-14 (-shared-libsan); the whole suite.
#   tsan  _core and server_tests with ThreadSanitizer (ANVIL_SANITIZE_THREAD), g++;
#         the tests that run the app on several Python threads (--threads N;
#         pytest -k thread) and BUILD_DIR/bin/server_tests (the core beside a
#         client thread and a handler thread).
# CPython is not instrumented, so the sanitizer runtime (clang's shared ASan
# runtime, which carries UBSan, or g++'s libtsan) is preloaded (LD_PRELOAD)
# into the interpreter and, by inheritance, into every server it starts. The _core of a sanitizer build
# lives in BUILD_DIR/python/anvil/ beside links to the package's .py files, and
# ANVIL_TEST_PACKAGE_DIR (tests/python/support.py) makes the tests import that
# package, never the Release _core in python/anvil/.
#
# A sanitizer report ends up in BUILD_DIR/sanitizer-logs/ (log_path: one file per
# process; clang's UBSan reports through ASan's. g++'s UBSan, linked beside its
# ASan, ignores log_path and writes to stderr only: hence clang for asan). A server is a subprocess whose exit status may not reach pytest (a
# worker dies and is replaced), so the files decide: conftest.py fails the test
# after which a report appeared, and this script fails when any report exists.
#
# Environment: PYTHON (default /usr/bin/python3).
set -euo pipefail

if [ $# -lt 2 ] || { [ "$1" != asan ] && [ "$1" != tsan ]; }; then
  echo "usage: $0 asan|tsan BUILD_DIR [pytest arguments...]" >&2
  exit 2
fi
kind=$1
build=$(cd "$2" && pwd)
shift 2

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${PYTHON:-/usr/bin/python3}
if [ "$kind" = asan ]; then
  preload=$(clang++-14 -print-file-name=libclang_rt.asan-x86_64.so)
  pytest_args=()
else
  preload=$(readlink -f "$(g++ -print-file-name=libtsan.so)")
  pytest_args=(-k "thread and not threads1")
fi
logs=$build/sanitizer-logs
package=$build/python
core=$(ls "$package"/anvil/_core.*.so 2>/dev/null | head -1)
if [ -z "$core" ]; then
  echo "$0: no _core in $package/anvil (make test-asan-python or test-tsan builds it)" >&2
  exit 2
fi
# The runtime preloaded must be the one the module was built against.
if ! readelf -d "$core" | grep -q "NEEDED.*\[$(basename "$preload" | sed 's/\.so.*//')"; then
  echo "$0: $core was not built against $(basename "$preload")" >&2
  exit 2
fi

# The package: the checkout's .py files (linked, so they are always current)
# and this build's _core.
find "$package/anvil" -maxdepth 1 -type l -delete
for f in "$root"/python/anvil/*.py; do
  ln -s "$f" "$package/anvil/"
done

rm -rf "$logs"
mkdir -p "$logs"
# ANVIL_TEST_SANITIZER: which runtime the servers run under, for the tests
# that cannot run under one (tests/python/support.py SANITIZER).
export ANVIL_TEST_PACKAGE_DIR=$package ANVIL_SANITIZER_LOG_DIR=$logs ANVIL_TEST_SANITIZER=$kind
export ANVIL_TEST_PYTHON=$python PYTHONPATH=$package
# detect_leaks=0: CPython frees little at exit; the C++ suites run LeakSanitizer
# on the core itself (make test-asan).
# clang's runtime reads both; the log_path read last (UBSAN_OPTIONS) wins: keep them equal.
export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=0:halt_on_error=1"
export UBSAN_OPTIONS="log_path=$logs/asan:print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="log_path=$logs/tsan:second_deadlock_stack=1:suppressions=$here/tsan.supp"

status=0
if [ "$kind" = tsan ]; then
  # The core's own suite: every server there runs on a thread of its own
  # beside the test's client, and ThreadEchoHandler answers from a third (as
  # WSGI --threads does); the process tests fork the TSan-built anvil-native.
  "$build/bin/server_tests" --gtest_brief=1 || status=$?
fi
[ $# -gt 0 ] || set -- "$root/tests/python"
LD_PRELOAD=$preload "$python" -m pytest -q -p no:cacheprovider "${pytest_args[@]}" "$@" || status=$?

reports=$(find "$logs" -type f | sort)
if [ -n "$reports" ]; then
  echo "$kind: sanitizer report(s) in $logs:" >&2
  for r in $reports; do
    echo "==== $r" >&2
    head -c 20000 "$r" >&2
  done
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "$kind: tests failed (exit $status)" >&2
  exit "$status"
fi
echo "$kind: no sanitizer report"
