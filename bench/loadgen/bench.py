#!/usr/bin/python3
"""hammer beside wrk, ab and locust; see run.sh for what is measured.

Each client runs pinned to CPU 0 (`taskset -c 0`, one process, one thread),
each server pinned to CPU 1. Per (server, mode, client) it sweeps a few
connection counts, repeats each 3 times, and keeps the connection count with
the highest median requests/s. Client CPU time per request comes from the
client's own rusage (os.wait4), over the whole run; for locust, whose Python
start-up would dominate, from /proc/PID/stat sampled over the steady window
between a run of S seconds and one of 2S seconds (the difference cancels
its start-up).
"""
import argparse
import csv
import datetime
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CLIENT_CPU = "0"
SERVER_CPU = "1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, limit=10.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Nginx:
    name = "nginx"

    def __init__(self, tmp):
        self.dir = tempfile.mkdtemp(prefix="hammer-nginx-", dir=tmp)
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1;
daemon off;
error_log {self.dir}/error.log;
pid {self.dir}/nginx.pid;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {self.dir};
  proxy_temp_path {self.dir};
  fastcgi_temp_path {self.dir};
  uwsgi_temp_path {self.dir};
  scgi_temp_path {self.dir};
  keepalive_requests 1000000000;
  server {{
    listen 127.0.0.1:{self.port} backlog=4096;
    location / {{ return 200 "Hello, World!"; }}
  }}
}}
""")
        self.cmd = ["taskset", "-c", SERVER_CPU, "nginx", "-c", conf, "-p", self.dir]
        self.url = f"http://127.0.0.1:{self.port}/"

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port, self.proc):
            raise RuntimeError("nginx did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class AnvilNative:
    name = "anvil-native hello"

    def __init__(self, binary):
        self.port = free_port()
        self.cmd = ["taskset", "-c", SERVER_CPU, binary, "--bind", f"127.0.0.1:{self.port}",
                    "--workers", "0", "hello"]
        self.url = f"http://127.0.0.1:{self.port}/"

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port, self.proc):
            raise RuntimeError("anvil-native did not start")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_pinned(cmd, tmp, limit):
    """Runs cmd on CLIENT_CPU; returns (stdout, stderr, cpu seconds, exit status)."""
    out_path = os.path.join(tmp, "out.txt")
    err_path = os.path.join(tmp, "err.txt")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(["taskset", "-c", CLIENT_CPU] + cmd, stdout=out, stderr=err)
        deadline = time.monotonic() + limit
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    with open(out_path, errors="replace") as f:
        stdout = f.read()
    with open(err_path, errors="replace") as f:
        stderr = f.read()
    return stdout, stderr, ru.ru_utime + ru.ru_stime, proc.returncode


def hammer(args, url, conns, secs, tmp, close):
    js = os.path.join(tmp, "hammer.json")
    cmd = [os.path.join(args.bin, "hammer"), "-t", "1", "-c", str(conns), "-d", f"{secs}s",
           "--no-progress", "--json", js]
    if close:
        cmd += ["--close", "--request", os.path.join(args.root, "bench/requests/ab.http")]
    out, err, cpu, rc = run_pinned(cmd + [url], tmp, secs + 30)
    if rc != 0:
        raise RuntimeError(f"hammer failed ({rc}): {err.strip()}")
    with open(js) as f:
        doc = json.load(f)
    total = doc["requests"] + doc["warmup"]
    return {"rps": doc["requests_per_s"], "requests": total, "errors": doc["error_total"],
            "cpu_us_per_request": cpu * 1e6 / max(total, 1)}


def wrk(args, url, conns, secs, tmp, close):
    out, err, cpu, rc = run_pinned(["wrk", "-t", "1", "-c", str(conns), "-d", f"{secs}s", url],
                                   tmp, secs + 30)
    m = re.search(r"(\d+) requests in", out)
    r = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rc != 0 or not m or not r:
        raise RuntimeError(f"wrk failed ({rc}): {out} {err}")
    errors = sum(int(x) for x in re.findall(r"(?:Non-2xx or 3xx responses|connect|read|write|timeout)\s*:?\s*(\d+)", out))
    n = int(m.group(1))
    return {"rps": float(r.group(1)), "requests": n, "errors": errors,
            "cpu_us_per_request": cpu * 1e6 / max(n, 1)}


def ab(args, url, conns, secs, tmp, close):
    out, err, cpu, rc = run_pinned(
        ["ab", "-q", "-t", str(secs), "-n", "100000000", "-c", str(conns), url], tmp, secs + 30)
    m = re.search(r"Complete requests:\s+(\d+)", out)
    r = re.search(r"Requests per second:\s+([\d.]+)", out)
    f = re.search(r"Failed requests:\s+(\d+)", out)
    if rc != 0 or not m or not r:
        raise RuntimeError(f"ab failed ({rc}): {out[-500:]} {err[-500:]}")
    n = int(m.group(1))
    return {"rps": float(r.group(1)), "requests": n, "errors": int(f.group(1)) if f else 0,
            "cpu_us_per_request": cpu * 1e6 / max(n, 1)}


def locust_once(args, url, conns, secs, tmp):
    prefix = os.path.join(tmp, "locust")
    cmd = ["locust", "-f", os.path.join(args.root, "bench/loadgen/locustfile.py"), "--headless",
           "-u", str(conns), "-r", str(conns), "-t", f"{secs}s", "--host", url.rstrip("/"),
           "--csv", prefix, "--only-summary", "--loglevel", "ERROR", "--stop-timeout", "0"]
    _, err, cpu, _ = run_pinned(cmd, tmp, secs + 60)
    with open(prefix + "_stats.csv") as f:
        for row in csv.DictReader(f):
            if row["Name"] == "Aggregated":
                return int(row["Request Count"]), int(row["Failure Count"]), cpu
    raise RuntimeError(f"locust wrote no stats: {err[-300:]}")


def locust(args, url, conns, secs, tmp, close):
    # Python start-up and the users' ramp cost more CPU than seconds of load:
    # two runs, secs and 2*secs long, and the difference between them.
    n1, f1, cpu1 = locust_once(args, url, conns, secs, tmp)
    n2, f2, cpu2 = locust_once(args, url, conns, 2 * secs, tmp)
    n = max(n2 - n1, 1)
    return {"rps": n / secs, "requests": n, "errors": f1 + f2,
            "cpu_us_per_request": (cpu2 - cpu1) * 1e6 / n}


CLIENTS = {"hammer": hammer, "wrk": wrk, "ab": ab, "locust": locust}

# (mode, client, connection counts)
PLAN = [
    ("keep-alive", "hammer", [8, 32, 128]),
    ("keep-alive", "wrk", [8, 32, 128]),
    ("keep-alive", "locust", [8, 32]),
    ("close", "hammer", [4, 16, 64]),
    ("close", "ab", [4, 16, 64]),
]
QUICK_PLAN = [(m, c, n[:1]) for m, c, n in PLAN]


def measure(args, server, tmp, reps, secs, plan):
    """Clients of one mode take turns, run by run, so that whatever else the
    machine is doing weighs on each of them alike."""
    out = {}
    for mode in dict.fromkeys(m for m, _, _ in plan):
        entries = [(c, conns) for m, c, conns in plan if m == mode]
        runs = {}  # (client, conns) -> [run]
        for client, _ in entries:
            if client == "locust" and not shutil.which("locust"):
                out.setdefault(mode, {})[client] = {
                    "unavailable": "locust is not installed (apt-get install python3-locust)"}
        active = [(c, n) for c, n in entries if c not in out.get(mode, {})]
        all_conns = sorted({n for _, ns in active for n in ns})
        for conns in all_conns:
            for _ in range(reps):
                for client, conn_list in active:
                    if conns in conn_list:
                        runs.setdefault((client, conns), []).append(
                            CLIENTS[client](args, server.url, conns, secs, tmp, mode == "close"))
        for client, conn_list in active:
            best = None
            for conns in conn_list:
                rs = runs[(client, conns)]
                rps = sorted(r["rps"] for r in rs)
                entry = {
                    "connections": conns,
                    "rps_median": statistics.median(rps), "rps_min": rps[0], "rps_max": rps[-1],
                    "cpu_us_per_request_median": statistics.median(r["cpu_us_per_request"] for r in rs),
                    "errors": sum(r["errors"] for r in rs),
                    "runs": rs,
                }
                print(f"  {server.name:20s} {mode:10s} {client:7s} -c {conns:4d}: "
                      f"{entry['rps_median']:10.0f} req/s ({rps[0]:.0f}-{rps[-1]:.0f}), "
                      f"{entry['cpu_us_per_request_median']:.2f} us CPU/request, errors {entry['errors']}",
                      flush=True)
                if best is None or entry["rps_median"] > best["rps_median"]:
                    best = entry
            best["tried_connections"] = conn_list
            out.setdefault(mode, {})[client] = best
    return out


def ratios(results):
    r = {}
    for server, modes in results.items():
        ka, cl = modes.get("keep-alive", {}), modes.get("close", {})
        entry = {}
        if "rps_median" in ka.get("hammer", {}) and "rps_median" in ka.get("wrk", {}):
            entry["keepalive_hammer_over_wrk"] = ka["hammer"]["rps_median"] / ka["wrk"]["rps_median"]
            entry["keepalive_cpu_wrk_over_hammer"] = (ka["wrk"]["cpu_us_per_request_median"] /
                                                      ka["hammer"]["cpu_us_per_request_median"])
        if "rps_median" in cl.get("hammer", {}) and "rps_median" in cl.get("ab", {}):
            entry["close_hammer_over_ab"] = cl["hammer"]["rps_median"] / cl["ab"]["rps_median"]
            entry["close_cpu_ab_over_hammer"] = (cl["ab"]["cpu_us_per_request_median"] /
                                                 cl["hammer"]["cpu_us_per_request_median"])
        r[server] = entry
    return r


def table(doc):
    lines = [
        f"Measured {doc['date']} on {doc['cpu_model']} ({doc['cpus']} CPUs), commit `{doc['commit']}`, "
        f"{doc['repetitions']} repetitions of {doc['seconds']} s per point; client on CPU {CLIENT_CPU}, "
        f"server on CPU {SERVER_CPU}. Load average (1 min) {doc['loadavg_1min_before']} before, "
        f"{doc['loadavg_1min_after']} after"
        + (": other work shared the machine, so treat the figures as rough." if
           max(doc['loadavg_1min_before'], doc['loadavg_1min_after']) > 2.5 else "."),
        "",
        "| server | connections | client | best -c | requests/s median (min–max) | client CPU µs/request | errors |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for server, modes in doc["results"].items():
        for mode, clients in modes.items():
            label = "keep-alive" if mode == "keep-alive" else "new per request"
            for client, e in clients.items():
                if "unavailable" in e:
                    lines.append(f"| {server} | {label} | {client} | – | unavailable: {e['unavailable']} | – | – |")
                    continue
                lines.append(
                    f"| {server} | {label} | {client} | {e['connections']} | "
                    f"{e['rps_median']:,.0f} ({e['rps_min']:,.0f}–{e['rps_max']:,.0f}) | "
                    f"{e['cpu_us_per_request_median']:.2f} | {e['errors']} |")
    lines.append("")
    for server, r in doc["ratios"].items():
        parts = []
        if "keepalive_hammer_over_wrk" in r:
            parts.append(f"keep-alive: hammer reaches {r['keepalive_hammer_over_wrk']:.2f}x wrk's requests/s; "
                         f"wrk spends {r['keepalive_cpu_wrk_over_hammer']:.2f}x hammer's client CPU per request")
        if "close_hammer_over_ab" in r:
            parts.append(f"a new connection per request: hammer reaches {r['close_hammer_over_ab']:.2f}x ab's "
                         f"requests/s; ab spends {r['close_cpu_ab_over_hammer']:.2f}x hammer's client CPU per request")
        if parts:
            lines.append(f"- {server}: " + "; ".join(parts) + ".")
    return "\n".join(lines)


SECTION_HEAD = """## Load generator

`bench/loadgen/run.sh` (part of `make bench`) measures `hammer` beside `wrk`
(keep-alive), `ab` (a new connection per request; hammer sends the same bytes,
`bench/requests/ab.http`, with `--close`) and locust (`FastHttpUser`, headless,
no think time, keep-alive), each as one client process with one thread pinned
to CPU 0, against nginx (`return 200`, 1 worker, a temporary config under
/tmp) and `anvil-native hello` (one process) pinned to CPU 1, all in one run.
For each client it tries a few connection counts and keeps the one with the
highest median requests/s (the clients of one mode take turns run by run, so
that other load on the machine weighs on each alike); client CPU per request is user+sys of the client
process (its rusage) over the requests it completed (locust: the difference between
a run of S and one of 2S seconds, which cancels its Python start-up). Results: `bench/results/loadgen.json`.
`--quick` prints one short repetition and writes nothing; `--readme-only`
rewrites this section from the JSON.

Reading the figures: on loopback a client's `send()` also runs the server's
TCP receive path (the softirq runs on the sending CPU). In a `perf record` of
hammer with keep-alive against anvil-native, ~60% of its time is `send()`,
half of that `net_rx_action`; `recv()` is ~18% and `epoll_wait()` ~7%. A client
can only save the system calls around that work. Per request (`strace -c`):
hammer with keep-alive makes 1 `sendto` + 1 `recvfrom` + 1/20 `epoll_wait`
(at 20 connections); wrk makes 1 `write` + 1 `read` + 2 `epoll_ctl` + 1/10
`epoll_wait`. With a new connection per request hammer makes 7 (`socket`,
`epoll_ctl`, `ioctl`, `connect`, `sendto`, `recvfrom`, `close`; 8 when it waits
for the FIN a server announced) + 1/2 `epoll_wait`; ab makes about 15
(2 `connect`, 4 `epoll_ctl`, 3 `epoll_wait`, 2 `read`, 2 `fcntl`, `socket`,
`write`, `close`). An io_uring build of hammer (Asio's io_uring backend: 0.1
system calls per request) used no less CPU per request here, so it is not
kept.

"""


def write_readme(path, body):
    begin, end = "<!-- loadgen:begin -->", "<!-- loadgen:end -->"
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    block = f"{begin}\n{SECTION_HEAD}{body}\n{end}"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--readme-only", action="store_true")
    args = ap.parse_args()
    if args.readme_only:
        with open(os.path.join(args.root, "bench/results/loadgen.json")) as f:
            doc = json.load(f)
        write_readme(os.path.join(args.root, "bench/README.md"), readme_body(doc))
        return
    reps, secs, plan = (1, 1, QUICK_PLAN) if args.quick else (3, 3, PLAN)
    tmp = tempfile.mkdtemp(prefix="hammer-bench-", dir="/tmp")
    servers = [Nginx(tmp)]
    native = os.path.join(args.bin, "anvil-native")
    skipped = {}
    if os.access(native, os.X_OK):
        servers.append(AnvilNative(native))
    else:
        skipped["anvil-native hello"] = f"{native} is not built"
    results = {}
    load_before = os.getloadavg()
    try:
        for server in servers:
            server.start()
            try:
                results[server.name] = measure(args, server, tmp, reps, secs, plan)
            finally:
                server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    commit = subprocess.run(["git", "-C", args.root, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    if subprocess.run(["git", "-C", args.root, "status", "--porcelain", "--", "loadgen", "bench/loadgen"],
                      capture_output=True, text=True).stdout.strip():
        commit += "+dirty"
    cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
                     "unknown")
    doc = {
        "cpu_model": cpu_model, "cpus": os.cpu_count(),
        "kernel": os.uname().release,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit, "repetitions": reps, "seconds": secs,
        "client_cpu": CLIENT_CPU, "server_cpu": SERVER_CPU,
        "skipped_servers": skipped,
        # Other work on the machine skews every figure; recorded so it can be judged.
        "loadavg_1min_before": round(load_before[0], 2), "loadavg_1min_after": round(os.getloadavg()[0], 2),
        "results": results,
    }
    doc["ratios"] = ratios(results)
    print(table(doc))
    if args.quick:
        return
    with open(os.path.join(args.root, "bench/results/loadgen.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    write_readme(os.path.join(args.root, "bench/README.md"), readme_body(doc))


def readme_body(doc):
    skipped = doc.get("skipped_servers", {})
    return table(doc) + ("\n\nNot measured: " + "; ".join(f"{k} ({v})" for k, v in skipped.items())
                         if skipped else "")


if __name__ == "__main__":
    sys.exit(main())
