#!/bin/bash
# make cluster: N anvil hosts behind nginx on this one machine, each host in
# its own network namespace, and the failover they promise, checked:
#   1. every host serves (hammer through nginx; nginx's access log says which
#      host answered each request);
#   2. one host is killed (SIGKILL, every process in its namespace) during a
#      run, and restarted during the same run: no GET fails (nginx retries it
#      on another host, proxy_next_upstream);
#   3. the host serves again (nginx tries it once its fail_timeout is over;
#      more short runs follow, at most REJOIN_RUNS, until it has).
# nginx runs deploy/nginx/anvil-hosts.conf and anvil-proxy.conf as shipped,
# with the namespaces' addresses as its upstream servers, listening on
# 127.0.0.1 only, from its own prefix, config, pid file and temp folders in a
# temporary folder (never the system nginx). Everything is torn down on exit,
# whatever happened.
#
# Needs root (ip netns, veth pairs). Exit status: 0 passed, 1 failed,
# 77 cannot run here (the reason on stderr: not root, no namespaces, no nginx).
#
# Environment: N (hosts, default 3), QUICK=1 (short runs, for make test),
# ANVIL (the command that serves, default "$PYTHON -m anvil" from this
# checkout; e.g. ANVIL=/venv/bin/anvil for an installed one), PYTHON,
# HAMMER (default build/bin/hammer), NGINX (default /usr/sbin/nginx),
# NS_PREFIX (namespace names, default "anvil-"), KEEP=1 (keep the temporary
# folder and print where).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-3}
PYTHON=${PYTHON:-/usr/bin/python3}
HAMMER=${HAMMER:-$ROOT/build/bin/hammer}
NGINX=${NGINX:-/usr/sbin/nginx}
NS_PREFIX=${NS_PREFIX:-anvil-}
if [[ -z "${ANVIL:-}" ]]; then
  ANVIL="$PYTHON -m anvil"
  export PYTHONPATH="$ROOT/python${PYTHONPATH:+:$PYTHONPATH}"
fi
PORT_IN_HOST=8000
if [[ -n "${QUICK:-}" ]]; then
  RATE=300 ALL_UP_S=1 RUN_S=6 KILL_AT=2 RESTART_AT=3
else
  RATE=1000 ALL_UP_S=3 RUN_S=12 KILL_AT=3 RESTART_AT=6
fi
REJOIN_RUNS=5 REJOIN_S=2

say() { echo "cluster: $*"; }
skip() {
  echo "cluster: skipped: $*" >&2
  exit 77
}
fail() {
  echo "cluster: FAILED: $*" >&2
  exit 1
}

if ! [[ "$N" =~ ^[0-9]+$ ]] || ((N < 2 || N > 60)); then
  fail "N must be 2 to 60, not '$N'"
fi
[[ $(id -u) -eq 0 ]] || skip "needs root to create network namespaces (ip netns, veth)"
[[ -x "$NGINX" ]] || skip "no nginx at $NGINX (Debian: nginx-light, make deps)"
[[ -x "$HAMMER" ]] || fail "no hammer at $HAMMER (make build)"

TMP=$(mktemp -d /tmp/anvil-cluster.XXXXXX)
chmod 755 "$TMP"  # nginx's workers run as an unprivileged user
NAMESPACES=()
HAMMER_PID=
NGINX_STARTED=

cleanup() {
  local rc=$?
  set +e
  [[ -n "$HAMMER_PID" ]] && kill "$HAMMER_PID" 2>/dev/null && wait "$HAMMER_PID" 2>/dev/null
  if [[ -n "$NGINX_STARTED" && -s "$TMP/nginx.pid" ]]; then
    local pid
    pid=$(cat "$TMP/nginx.pid")
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  for ns in "${NAMESPACES[@]}"; do
    kill_host "$ns"
    ip netns del "$ns" 2>/dev/null  # its veth pair goes with it
  done
  if ((rc != 0 && rc != 77)); then
    for f in "$TMP"/*.log; do
      [[ -f "$f" ]] || continue
      echo "--- $(basename "$f") (last lines)" >&2
      tail -n 15 "$f" >&2
    done
  fi
  if [[ -n "${KEEP:-}" ]]; then
    echo "cluster: kept $TMP" >&2
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Every process in a host's namespace is one this script started there.
kill_host() {
  local pids
  mapfile -t pids < <(ip netns pids "$1" 2>/dev/null || true)
  ((${#pids[@]} > 0)) && kill -KILL "${pids[@]}" 2>/dev/null
  for _ in $(seq 100); do
    [[ -z "$(ip netns pids "$1" 2>/dev/null)" ]] && return 0
    sleep 0.05
  done
  return 1
}

# A /24 of 10.213.x.0 that no interface here uses; host i gets .4i+1 (the
# root side of its veth pair) and .4i+2 (inside its namespace), a /30 each.
pick_subnet() {
  local x
  for x in $(seq $(($$ % 200 + 20)) 250) $(seq 20 250); do
    if [[ -z "$(ip -4 addr show to "10.213.$x.0/24")" && -z "$(ip -4 route show root "10.213.$x.0/24")" ]]; then
      echo "10.213.$x"
      return
    fi
  done
  fail "no free 10.213.x.0/24 subnet"
}

make_host() {
  local i=$1 ns=$2 net=$3
  local veth="anv$$h$i"
  ip netns add "$ns" || skip "cannot create network namespace $ns (ip netns add failed)"
  NAMESPACES+=("$ns")
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  ip addr add "$net.$((4 * i + 1))/30" dev "$veth"
  ip link set "$veth" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$net.$((4 * i + 2))/30" dev eth0
  ip -n "$ns" link set eth0 up
}

# Starts anvil in the namespace and waits for its "listening on" line.
start_host() {
  local ns=$1 addr=$2 log=$3
  # shellcheck disable=SC2086  # ANVIL may be "python -m anvil"
  # nginx reaches the hosts from its ends of the veth pairs, all in $NET.0/24:
  # trust its X-Forwarded-For / -Proto there, so the app sees the real client.
  ip netns exec "$ns" env ANVIL_CLUSTER_HOST="$ns" $ANVIL --bind "$addr:$PORT_IN_HOST" \
    --workers 1 --keepalive 75 --forwarded-allow-ips "$NET.0/24" \
    --chdir "$ROOT/deploy" cluster_app:app >"$log" 2>&1 &
  local pid=$!
  disown "$pid"  # killed with its namespace, on purpose: no "Killed" notice
  for _ in $(seq 600); do
    grep -q "anvil: listening on" "$log" && return 0
    kill -0 "$pid" 2>/dev/null || fail "anvil in $ns exited before listening"
    sleep 0.05
  done
  fail "anvil in $ns did not listen within 30 s"
}

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# nginx.conf: its own files only; http { } holds the shipped anvil-hosts.conf
# with our hosts and port.
start_nginx() {
  local port=$1
  mkdir -p "$TMP/nginx-temp"
  cp "$ROOT/deploy/nginx/anvil-proxy.conf" "$TMP/"
  {
    sed -n '1,/# anvil-hosts:begin/p' "$ROOT/deploy/nginx/anvil-hosts.conf"
    for ((i = 1; i <= N; i++)); do
      echo "    server ${HOST_ADDR[$i]}:$PORT_IN_HOST max_fails=1 fail_timeout=2s;"
    done
    sed -n '/# anvil-hosts:end/,$p' "$ROOT/deploy/nginx/anvil-hosts.conf"
  } | sed "s/^    listen 80;/    listen 127.0.0.1:$port;/" >"$TMP/anvil-hosts.conf"
  grep -q "listen 127.0.0.1:$port;" "$TMP/anvil-hosts.conf" || fail "anvil-hosts.conf has no 'listen 80;' line"
  cat >"$TMP/nginx.conf" <<EOF
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 1024; }
http {
    log_format cluster '\$msec \$status "\$upstream_addr" "\$upstream_status"';
    access_log $TMP/nginx-access.log cluster;
    client_body_temp_path $TMP/nginx-temp/body;
    proxy_temp_path $TMP/nginx-temp/proxy;
    fastcgi_temp_path $TMP/nginx-temp/fastcgi;
    uwsgi_temp_path $TMP/nginx-temp/uwsgi;
    scgi_temp_path $TMP/nginx-temp/scgi;
    include $TMP/anvil-hosts.conf;
}
EOF
  # Returns once nginx has bound its port and gone to the background.
  "$NGINX" -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log"
}

now() { date +%s.%N; }

# requests served per host (the last upstream nginx tried) between two times
# (seconds since the epoch), as "ns count" lines; plus "retried N" (requests
# nginx sent to more than one host) and "non200 N" (answers to the client).
count_served() {
  local from=$1 to=$2
  awk -v from="$from" -v to="$to" -v map="$ADDR_MAP" '
    BEGIN { n = split(map, kv, " "); for (k = 1; k <= n; k += 2) name[kv[k]] = kv[k + 1] }
    $1 >= from && $1 < to {
      up = $3; gsub(/"/, "", up); last = up; sub(/.*, /, "", last)
      served[name[last] != "" ? name[last] : last]++
      if (index(up, ",")) retried++
      if ($2 != 200) non200++
    }
    END {
      for (h in served) print h, served[h]
      print "retried", retried + 0
      print "non200", non200 + 0
    }' "$TMP/nginx-access.log"
}

count_of() { awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' <<<"$2"; }

show_counts() {
  local title=$1 counts=$2 line=""
  for ((i = 1; i <= N; i++)); do
    line+=" ${HOST_NS[$i]}=$(count_of "${HOST_NS[$i]}" "$counts")"
  done
  say "$title:$line; retried on another host $(count_of retried "$counts"); non-200 $(count_of non200 "$counts")"
}

# hammer's JSON: "error_total" and "responses".
json_field() { "$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

run_hammer() {
  local seconds=$1 out=$2
  "$HAMMER" -c 8 --rate "$RATE" -d "${seconds}s" --timeout 5s --expect-status 200 --no-progress \
    --json "$out.json" "http://127.0.0.1:$NGINX_PORT/" >"$out.log" 2>&1
}

# --- the cluster -------------------------------------------------------------

NET=$(pick_subnet)
declare -a HOST_NS HOST_ADDR
ADDR_MAP=""
for ((i = 1; i <= N; i++)); do
  HOST_NS[i]="${NS_PREFIX}$$-$i"
  HOST_ADDR[i]="$NET.$((4 * i + 2))"
  ADDR_MAP+="${HOST_ADDR[$i]}:$PORT_IN_HOST ${HOST_NS[$i]} "
  make_host "$i" "${HOST_NS[$i]}" "$NET"
done
say "$N hosts in network namespaces ${HOST_NS[1]}..${HOST_NS[$N]} ($NET.0/24), serving with: $ANVIL"
for ((i = 1; i <= N; i++)); do
  start_host "${HOST_NS[$i]}" "${HOST_ADDR[$i]}" "$TMP/${HOST_NS[$i]}.log"
done

for attempt in 1 2 3; do
  NGINX_PORT=$(free_port)
  if start_nginx "$NGINX_PORT" 2>>"$TMP/nginx-start.log"; then
    NGINX_STARTED=1
    break
  fi
  ((attempt < 3)) || fail "nginx did not start: $(tail -n 3 "$TMP/nginx-start.log")"
done
say "nginx on http://127.0.0.1:$NGINX_PORT/ ($("$NGINX" -v 2>&1 | sed 's/.*: //'), deploy/nginx/anvil-hosts.conf)"

# 0. Through nginx, the app sees the client (127.0.0.1), not nginx's address.
client=$("$PYTHON" -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode().strip())' \
  "http://127.0.0.1:$NGINX_PORT/client") || fail "GET /client through nginx failed"
[[ "$client" == "127.0.0.1 http" ]] || fail "the app saw the client as '$client', not '127.0.0.1 http' (--forwarded-allow-ips)"
say "the app sees the client through nginx: $client"

# 1. Every host serves.
t0=$(now)
run_hammer "$ALL_UP_S" "$TMP/hammer-all-up"
t1=$(now)
counts=$(count_served "$t0" "$t1")
show_counts "all up, ${ALL_UP_S}s at $RATE requests/s, served by" "$counts"
errors=$(json_field "$TMP/hammer-all-up.json" error_total)
((errors == 0)) || fail "hammer counted $errors errors with every host up"
for ((i = 1; i <= N; i++)); do
  (($(count_of "${HOST_NS[$i]}" "$counts") > 0)) || fail "${HOST_NS[$i]} served nothing"
done

# 2. Host 1 dies during a run and is restarted during the same run.
victim=${HOST_NS[1]}
t_start=$(now)
run_hammer "$RUN_S" "$TMP/hammer-failover" &
HAMMER_PID=$!
sleep "$KILL_AT"
kill_host "$victim" || fail "$victim's processes did not die"
t_kill=$(now)
say "killed every process of $victim at ${KILL_AT}s of a ${RUN_S}s run"
sleep "$((RESTART_AT - KILL_AT))"
start_host "$victim" "${HOST_ADDR[1]}" "$TMP/$victim-restarted.log"
t_back=$(now)
say "restarted $victim: listening again at $(awk -v a="$t_back" -v b="$t_start" 'BEGIN { printf "%.1f", a - b }')s"
wait "$HAMMER_PID" || fail "hammer failed (exit $?)"
HAMMER_PID=
t_end=$(now)

show_counts "before the kill, served by" "$(count_served "$t_start" "$t_kill")"
down=$(count_served "$t_kill" "$t_back")
show_counts "$victim down, served by" "$down"
responses=$(json_field "$TMP/hammer-failover.json" responses)
errors=$(json_field "$TMP/hammer-failover.json" error_total)
say "hammer: $responses responses, $errors errors (GET; every answer must be 200)"
((errors == 0)) || fail "clients saw $errors errors while $victim was killed and restarted: $(grep -m1 -i error "$TMP/hammer-failover.log" || true)"
(($(count_of non200 "$down") == 0)) || fail "nginx answered the client with non-200 statuses"
for ((i = 2; i <= N; i++)); do
  (($(count_of "${HOST_NS[$i]}" "$down") > 0)) || fail "${HOST_NS[$i]} served nothing while $victim was down"
done

# 3. The restarted host serves again: already in the run above, or in one of
# a few short runs after it (the restart's time varies with the load).
for ((run = 0; ; run++)); do
  after=$(count_served "$t_back" "$t_end")
  (($(count_of non200 "$after") == 0)) || fail "nginx answered the client with non-200 statuses"
  (($(count_of "$victim" "$after") > 0)) && break
  ((run < REJOIN_RUNS)) || fail "$victim did not serve again in the ${REJOIN_RUNS} runs after its restart"
  run_hammer "$REJOIN_S" "$TMP/hammer-rejoin-$run"
  errors=$(json_field "$TMP/hammer-rejoin-$run.json" error_total)
  ((errors == 0)) || fail "hammer counted $errors errors after $victim's restart"
  t_end=$(now)
done
show_counts "$victim back, served by" "$after"
say "passed: every host served, no client error through the kill, $victim rejoined"
