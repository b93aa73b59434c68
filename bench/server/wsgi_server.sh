# Sourced by wsgi_paths.sh and wsgi_profile.sh (needs ROOT): one server for
# a WSGI path, pinned to CPU 0, and a hammer run against it pinned to CPU 1.
#
#   start_wsgi_server PYTHON PATH LOG   # PATH: capi|python|cffi|native; sets pid and url
#   hammer_run REQUESTS REQUEST_FILE    # keep-alive, 40 connections, against $url
#   stop_wsgi_server
start_wsgi_server() {
  local py=$1 path=$2 log=$3 args=(hello:app) env=(ANVIL_WSGI_PATH="$2")
  if [ "$path" = native ]; then args=(--native hello); env=(); fi
  (cd "$ROOT/bench/apps" && exec env "${env[@]}" PYTHONPATH="$ROOT/python:." taskset -c 0 \
    "$py" -m anvil --workers 0 --bind 127.0.0.1:0 "${args[@]}") 2>"$log" &
  pid=$!
  url=""
  for _ in $(seq 600); do
    url=$(sed -n 's/^anvil: listening on \(http:[^ ]*\)$/\1/p' "$log")
    [ -n "$url" ] && return 0
    sleep 0.05
  done
  cat "$log" >&2
  kill "$pid"
  exit 1
}

hammer_run() {
  taskset -c 1 "$ROOT/build/bin/hammer" -c 40 --requests "$1" --no-progress --request "$2" "$url/" >/dev/null
}

stop_wsgi_server() {
  kill -INT "$pid"
  wait "$pid" || true
}
