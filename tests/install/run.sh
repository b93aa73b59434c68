#!/bin/bash
# make test-install: anvil installs with pip, offline, for each interpreter
# named on the command line, and the installed `anvil` command serves an app
# from the app's own directory.
#
# For each interpreter, in a new temporary folder (nothing is reused from
# this checkout's build trees):
#   1. a copy of the checkout's files (tracked and untracked, not ignored),
#      as a fresh clone with the working tree's changes would have them;
#   2. a venv with --system-site-packages (Debian's pip, setuptools, wheel);
#   3. `pip install --no-build-isolation --no-index SRC` (CMake builds _core);
#   4. from a third folder that holds app.py: `anvil --version`, then
#      `anvil --bind 127.0.0.1:0 app:app`, one request, SIGTERM, exit 0;
#   5. an editable install (`pip install -e`) of the same copy in a second
#      venv: `anvil --version` and the package imported from the copy.
# Exit status: 0 when every interpreter passed, 1 otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
START_TIMEOUT=60   # seconds for the server's "listening on" line
INSTALL_TIMEOUT=1200

# The installed package must serve, not this checkout's python/ (the Makefile
# exports PYTHONPATH for the other suites).
unset PYTHONPATH

TMPS=()
remove_tmps() { ((${#TMPS[@]} == 0)) || rm -rf "${TMPS[@]}"; }
trap remove_tmps EXIT
trap 'exit 130' INT TERM

say() { echo "test-install: $*"; }
fail() {
  echo "test-install: FAILED: $*" >&2
  exit 1
}

# Tracked and untracked-but-not-ignored files that exist (a fresh clone plus
# the working tree's changes), copied under $1.
copy_checkout() {
  mkdir -p "$1"
  (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [[ -f "$f" ]] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -C "$1" -xf -
}

# pip with no index: it must never try to reach PyPI.
pip_install() {
  local venv=$1 log=$2
  shift 2
  if ! timeout "$INSTALL_TIMEOUT" "$venv/bin/python" -m pip install --no-build-isolation --no-index \
    --disable-pip-version-check "$@" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    fail "pip install $* (log above)"
  fi
}

check_version() {
  local anvil=$1 interp=$2 out
  out=$("$anvil" --version) || fail "$anvil --version exited $?"
  printf '    %s\n' "${out//$'\n'/$'\n'    }"
  grep -q "^anvil [0-9]" <<<"$out" || fail "--version: no 'anvil X.Y.Z' line"
  grep -q "^interpreter: .*($interp)" <<<"$out" || fail "--version: interpreter is not $interp"
  grep -q "^parsers: llhttp, fast, http-parser$" <<<"$out" || fail "--version: parsers are not llhttp, fast, http-parser"
  grep -q "^WSGI path: \(capi\|python\|cffi\) " <<<"$out" || fail "--version: no WSGI path"
}

# Serves app.py from its own folder with the installed command; one request.
check_serves() {
  local anvil=$1 appdir=$2 venv=$3
  local log="$appdir/server.log"
  (cd "$appdir" && exec "$anvil" --bind 127.0.0.1:0 app:app) 2>"$log" &
  local pid=$! url=""
  for _ in $(seq $((START_TIMEOUT * 20))); do
    url=$(sed -n 's/^anvil: listening on \(http:[^ ]*\)$/\1/p' "$log")
    [[ -n "$url" ]] && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; fail "anvil exited before listening"; }
    sleep 0.05
  done
  [[ -n "$url" ]] || { kill -KILL "$pid"; fail "anvil did not listen within ${START_TIMEOUT}s"; }
  local body
  body=$(/usr/bin/python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1] + "/hi", timeout=10).read().decode())' "$url") ||
    { kill -KILL "$pid"; fail "no answer from $url"; }
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  say "  GET $url/hi -> $body"
  ((rc == 0)) || { cat "$log" >&2; fail "anvil exited $rc after SIGTERM"; }
  [[ "$body" == "hello from app.py, anvil in $venv/"* ]] || fail "unexpected answer: $body"
}

test_interpreter() {
  local interp=$1
  [[ -x "$interp" ]] || fail "no interpreter $interp"
  local tmp
  tmp=$(mktemp -d /tmp/anvil-install.XXXXXX)
  TMPS+=("$tmp")
  local started=$SECONDS
  say "$interp: copying the checkout to $tmp/src"
  copy_checkout "$tmp/src"

  "$interp" -m venv --system-site-packages "$tmp/venv" || fail "$interp -m venv (Debian: python3-venv, pypy3-venv)"
  say "$interp: pip install --no-build-isolation --no-index (CMake builds _core)"
  pip_install "$tmp/venv" "$tmp/pip.log" "$tmp/src"
  say "$interp: installed in $((SECONDS - started))s"

  mkdir "$tmp/app"
  cat >"$tmp/app/app.py" <<'EOF'
import anvil


def app(environ, start_response):
    body = f"hello from app.py, anvil in {anvil.__file__}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
EOF
  check_version "$tmp/venv/bin/anvil" "$tmp/venv/bin/python"
  check_serves "$tmp/venv/bin/anvil" "$tmp/app" "$tmp/venv"

  "$interp" -m venv --system-site-packages "$tmp/venv-edit"
  say "$interp: pip install -e (editable)"
  pip_install "$tmp/venv-edit" "$tmp/pip-edit.log" -e "$tmp/src"
  check_version "$tmp/venv-edit/bin/anvil" "$tmp/venv-edit/bin/python"
  local where
  where=$(cd "$tmp/app" && "$tmp/venv-edit/bin/python" -c 'import anvil._core; print(anvil._core.__file__)')
  [[ "$where" == "$tmp/src/python/anvil/_core"* ]] || fail "editable install imports _core from $where"
  say "$interp: passed in $((SECONDS - started))s"
}

(($# > 0)) || fail "usage: tests/install/run.sh INTERPRETER..."
for interp in "$@"; do
  test_interpreter "$interp"
done
