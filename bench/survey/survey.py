#!/usr/bin/python3
"""`make survey`: the 2013 WSGI server survey, redone on CPython 3.11 and PyPy 3.9,
with the cost ladder that takes a request apart stage by stage (issue 5).

    bench/survey/survey.py [--quick | --demo] [--requests N --warmup M --runs R]
                           [--servers a,b] [--runtimes cpython,pypy]
                           [--workloads close-chrome,...] [--build-dir build]
    bench/survey/survey.py --report-only      # redo SURVEY.md and the charts from survey.json

Every cell of the matrix (server x runtime x workload) is measured the same way:
start the server pinned to core 0 (bench/measure), check one response
per request profile (status 200, the 13-byte body), run `hammer` pinned to core 1
(4 threads x 10 connections, the survey's client shape) for the warm-up
(`--warmup` requests, not counted: PyPy's JIT), then `--runs` counted runs of
`--requests - --warmup` requests each, between two snapshots of the server's
process-tree CPU time. A server that cannot start, answers wrongly or dies is
recorded as failed with the reason; none is left out.

Results: bench/results/survey.json (raw), bench/results/SURVEY.md and the charts
(report.py). --quick and --demo say so in every output they make.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "bench"))

import measure  # noqa: E402  bench/measure: start, tree CPU, verify, clients
import report  # noqa: E402
import servers  # noqa: E402

RESULTS = ROOT / "bench" / "results"
REQUESTS = ROOT / "bench" / "requests"
SERVER_CPU, CLIENT_CPU = 0, 1
THREADS, CONNECTIONS = 4, 40          # the survey: 4 client workers x 10 concurrent requests
SURVEY_REQUESTS, SURVEY_WARMUP = 120000, 30000
PROBE, MIN_COUNTED = 500, 1000      # --cell-seconds: the rate probe, the least counted per run
STATS_LINE = re.compile(r"anvil: stats(?: pid \d+)?: requests (\d+); (.*)")

# (mode, profile): mode "close" is the survey's (a new connection per request).
WORKLOADS = {
    "close-chrome": ("close", "chrome-2013"),
    "close-ab": ("close", "ab"),
    "keepalive-chrome": ("keepalive", "chrome-2013"),
    "keepalive-ab": ("keepalive", "ab"),
}

# --quick: under 5 minutes on 2 cores. The survey's servers that ran in 2013,
# the ladder and the ceilings; two workloads (the survey's and keep-alive).
QUICK = {
    "servers": ["wsgiref", "gunicorn-sync", "tornado", "uwsgi", "anvil-fast", "ref-python",
                "ref-fast", "anvil-pynative", "nginx"],
    "runtimes": ["cpython", "pypy"],
    "workloads": ["close-chrome", "keepalive-chrome"],
    "requests": 2500, "warmup": 1000, "runs": 3,
}
# --demo (`make demo`): the quick ladder, printed as a table, a couple of minutes.
DEMO = {
    "servers": ["ref-python", "ref-fast", "anvil-fast", "anvil-llhttp", "anvil-pynative",
                "anvil-native", "wsgiref"],
    "runtimes": ["cpython", "pypy"],
    "workloads": ["keepalive-chrome", "keepalive-ab"],
    "requests": 3000, "warmup": 1000, "runs": 3,
}
# Requests/s assumed by the run-time estimate (a slow pure-Python server on
# this 2-core machine class); the estimate errs long.
EST_RATE = {"close": 1500.0, "keepalive": 3000.0}
EST_START_S = 3.0


def survey_client(hammer_path):
    """hammer in the survey's client shape: THREADS threads (pinned, as every
    client, with taskset to CLIENT_CPU), each response checked for status 200."""
    return measure.Hammer(hammer_path, threads=THREADS, expect_status="200", timeout="10s")


def measure_run(server, client, request_file, close, requests, warmup):
    """measure.counted_run(); the survey's CPU figure is the nanosecond
    (schedstat) one: over the quick matrix's few thousand requests, 10 ms
    ticks are several µs per request of resolution. A thread that exits
    during the run takes its time with it, so the tick count is recorded
    beside it as a check."""
    out = measure.counted_run(server, client, request_file, close, requests, CONNECTIONS,
                              warmup=warmup, client_cpu=CLIENT_CPU)
    out["cpu_per_request_us"] = out["schedstat_per_request_us"]
    return out


def request_files(tmpdir):
    """Request bytes per (mode, profile). Keep-alive: chrome-2013 without its
    `Connection: close`; ab's HTTP/1.0 request with `Connection: keep-alive`
    (what `ab -k` sends)."""
    out = {}
    for profile in ("chrome-2013", "ab"):
        raw = (REQUESTS / f"{profile}.http").read_bytes()
        out[("close", profile)] = str(REQUESTS / f"{profile}.http")
        ka = measure.keep_alive_request(raw)
        if b" HTTP/1.0\r\n" in ka.split(b"\r\n", 1)[0] + b"\r\n":
            ka = ka.replace(b"\r\n\r\n", b"\r\nConnection: keep-alive\r\n\r\n", 1)
        path = os.path.join(tmpdir, f"{profile}-keepalive.http")
        with open(path, "wb") as f:
            f.write(ka)
        out[("keepalive", profile)] = path
    return out


def summarize(values):
    return measure.summarize(values, digits=3)


def parse_stats(log):
    """anvil's --stats line: {"requests": n, "read": us, "parse": us, ...}."""
    found = STATS_LINE.findall(log)
    if not found:
        return None
    requests, stages = found[-1]
    out = {"requests": int(requests)}
    for part in stages.split(","):
        name, value, _unit = part.split()
        out[name] = float(value)
    return out


def plan_requests(srv, client, request_file, close, args, cell):
    """(warm-up, counted per run). Without --cell-seconds: the survey's counts.
    With it, a server too slow to answer them in time gets fewer: a probe of
    PROBE requests (part of the warm-up) gives its rate, and the warm-up and
    each run are cut to what fits in an equal share of the budget, never below
    MIN_COUNTED counted requests. The cell records what it ran."""
    warmup, counted = args.warmup, args.requests - args.warmup
    if args.cell_seconds:
        probe = min(PROBE, warmup) if warmup else PROBE
        r = client.run(srv.host, srv.port, request_file, close, probe, CONNECTIONS, cpu=CLIENT_CPU)
        rate = r.requests_per_s or 1.0
        share = args.cell_seconds / (args.runs + 1)
        fit = int(rate * share)
        warmup = max(min(warmup - probe, fit), 0)
        counted = max(min(counted, fit), MIN_COUNTED)
        cell["probe"] = {"requests": probe, "requests_per_s": round(rate, 1)}
    cell["warmup"] = warmup + (cell["probe"]["requests"] if "probe" in cell else 0)
    cell["counted_per_run"] = counted
    cell["capped"] = counted < args.requests - args.warmup
    return warmup, counted


def run_cell(server_def, runtime, workload, files, args, client):
    """One server x runtime x workload: start, verify, warm up, runs, stop."""
    mode, profile = WORKLOADS[workload]
    cell = {"server": server_def.key, "label": server_def.label, "runtime": runtime,
            "workload": workload, "mode": mode, "profile": profile, "group": server_def.group,
            "ladder_step": server_def.ladder[0] if server_def.ladder else None,
            "note": server_def.note, "status": "ok", "error": None, "runs": []}
    reason = server_def.unavailable.get(runtime)
    if reason:
        cell.update(status="not available", error=reason)
        return cell
    request_file = files[(mode, profile)]
    with open(request_file, "rb") as f:
        request = f.read()
    t0 = time.monotonic()
    try:
        srv = measure.start_server(server_def.spec(runtime, args.build_dir, args.python_dir),
                                   cpu=SERVER_CPU)
    except Exception as e:  # noqa: BLE001 - any failure to start is a result
        cell.update(status="failed", error=f"did not start: {e}")
        if getattr(e, "log", ""):
            cell["log_tail"] = e.log[-400:]
        return cell
    log = ""
    try:
        measure.verify(srv.host, srv.port, request)
        warmup, counted = plan_requests(srv, client, request_file, mode == "close", args, cell)
        for i in range(args.runs):
            m = measure_run(srv, client, request_file, mode == "close", counted,
                            warmup if i == 0 else 0)
            cell["runs"].append(m)
        measure.verify(srv.host, srv.port, request)
    except Exception as e:  # noqa: BLE001 - a wrong answer or a crash is a result
        cell.update(status="failed", error=f"{type(e).__name__}: {e}"[:500])
    finally:
        _, log = srv.stop_and_read_log()
    if cell["status"] == "failed" and log:
        cell["log_tail"] = log[-400:]
    errors = sum(r["errors"] for r in cell["runs"])
    if cell["status"] == "ok" and errors:
        cell["status"] = "errors"
    cell["stats"] = parse_stats(log) if server_def.stats else None
    cell["summary"] = {
        "requests_per_s": summarize([r["requests_per_s"] for r in cell["runs"]]),
        "cpu_per_request_us": summarize([r["cpu_per_request_us"] for r in cell["runs"]]),
        "p50_us": summarize([r["p50_us"] for r in cell["runs"]]),
        "p99_us": summarize([r["p99_us"] for r in cell["runs"]]),
        "errors": errors,
        "requests": sum(r["requests"] for r in cell["runs"]),
    }
    cell["wall_s"] = round(time.monotonic() - t0, 1)
    cell["measured_at"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return cell


def matrix(args):
    cells = []
    for key in args.servers:
        s = servers.BY_KEY[key]
        for runtime in s.runtimes:
            if runtime != "native" and runtime not in args.runtimes:
                continue
            for workload in args.workloads:
                cells.append((s, runtime, workload))
    return cells


def estimate_s(cells, args):
    total = 0.0
    for s, runtime, workload in cells:
        if s.unavailable.get(runtime):
            continue
        mode = WORKLOADS[workload][0]
        n = args.warmup + args.runs * (args.requests - args.warmup)
        t = n / EST_RATE[mode]
        if args.cell_seconds:
            t = min(t, args.cell_seconds + PROBE / EST_RATE[mode])
        total += EST_START_S + t
    return total


def machine_info(args):
    m = measure.machine()
    return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "git_commit": measure.git_commit(ROOT, short=True, dirty_paths=[
                "bench/survey", "bench/measure", "python", "server", "parser", "loadgen"]),
            "cpu_model": m["cpu_model"], "cores": m["cores"], "kernel": m["kernel"],
            "load_average_at_start": os.getloadavg(), "hammer": args.hammer,
            "build_dir": args.build_dir}


def install_peers():
    """The peers from Debian; .ci/deps.sh installs only what is missing."""
    deps = ROOT / ".ci" / "deps.sh"
    r = subprocess.run([str(deps)] + servers.PEER_PACKAGES)
    if r.returncode != 0:
        print("survey: could not install every peer; those missing will be reported as failed",
              file=sys.stderr)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="the reduced matrix, under 5 minutes")
    mode.add_argument("--demo", action="store_true",
                      help="the quick ladder (make demo): print its table, write no results")
    mode.add_argument("--report-only", action="store_true",
                      help="rewrite SURVEY.md and the charts from survey.json")
    p.add_argument("--requests", type=int, help=f"requests per run, warm-up included "
                   f"(survey: {SURVEY_REQUESTS})")
    p.add_argument("--warmup", type=int, help=f"warm-up requests, not counted (survey: {SURVEY_WARMUP})")
    p.add_argument("--runs", type=int, help="counted runs per configuration (default 3)")
    p.add_argument("--servers", help="comma-separated keys: " + ",".join(servers.BY_KEY))
    p.add_argument("--runtimes", help="comma-separated: cpython,pypy")
    p.add_argument("--workloads", help="comma-separated: " + ",".join(WORKLOADS))
    p.add_argument("--build-dir", default=str(ROOT / "build"),
                   help="where bin/hammer and bin/anvil-native are (default build/)")
    p.add_argument("--out", help="results JSON, SURVEY.md and charts beside it (default "
                   "bench/results/survey.json; quick: BUILD/survey-quick/; demo: none)")
    p.add_argument("--cell-seconds", type=float, default=0,
                   help="time budget per server x runtime x workload: servers too slow for "
                   "--requests in it get fewer (recorded per cell; 0: no cap)")
    p.add_argument("--estimate", action="store_true", help="print the plan and its estimated "
                   "run time, run nothing")
    p.add_argument("--merge", action="store_true",
                   help="replace only the cells measured now in the existing results JSON "
                   "(e.g. a rerun of the servers that failed), keeping the others")
    p.add_argument("--no-install", action="store_true", help="do not apt-get the peers")
    p.add_argument("--label", default="", help="a note on this run, printed in SURVEY.md")
    args = p.parse_args(argv)
    preset = QUICK if args.quick else DEMO if args.demo else {
        "servers": [s.key for s in servers.SERVERS], "runtimes": ["cpython", "pypy"],
        "workloads": list(WORKLOADS), "requests": SURVEY_REQUESTS, "warmup": SURVEY_WARMUP,
        "runs": 3}
    args.matrix = "quick" if args.quick else "demo" if args.demo else "full"
    args.servers = args.servers.split(",") if args.servers else preset["servers"]
    args.runtimes = args.runtimes.split(",") if args.runtimes else preset["runtimes"]
    args.workloads = args.workloads.split(",") if args.workloads else preset["workloads"]
    for name, value in (("requests", args.requests), ("warmup", args.warmup), ("runs", args.runs)):
        if value is None:
            setattr(args, name, preset[name])
        elif (name != "warmup" and value < 1) or value < 0:
            p.error(f"--{name} must be positive")
    bad = ([k for k in args.servers if k not in servers.BY_KEY]
           + [r for r in args.runtimes if r not in servers.RUNTIMES]
           + [w for w in args.workloads if w not in WORKLOADS])
    if bad:
        p.error(f"unknown names: {', '.join(bad)}")
    if args.requests <= args.warmup:
        p.error("--requests must exceed --warmup (it counts the warm-up)")
    reduced = (args.requests, args.warmup, args.runs) != (SURVEY_REQUESTS, SURVEY_WARMUP, 3) or \
        set(args.servers) != set(servers.BY_KEY) or set(args.workloads) != set(WORKLOADS) or \
        set(args.runtimes) != set(servers.RUNTIMES) or bool(args.cell_seconds)
    if args.matrix == "full" and reduced:
        args.matrix = "reduced"
    args.build_dir = os.path.abspath(args.build_dir)
    args.hammer = os.path.join(args.build_dir, "bin", "hammer")
    if args.out is None:
        # The quick matrix goes to the build tree: it never replaces the committed survey.
        args.out = {"full": RESULTS / "survey.json", "reduced": RESULTS / "survey.json",
                    "quick": Path(args.build_dir) / "survey-quick" / "survey.json",
                    "demo": None}[args.matrix]
    return args


def merge(old, new):
    """old's results with new's cells in place of the same server x runtime x
    workload; the merge is recorded (date, commit, load, what was replaced)."""
    key = lambda c: (c["server"], c["runtime"], c["workload"])  # noqa: E731
    fresh = {key(c): c for c in new["cells"]}
    cells = [fresh.pop(key(c), c) for c in old["cells"]] + list(fresh.values())
    out = dict(old)
    out["cells"] = cells
    out["merges"] = old.get("merges", []) + [{
        "date": new["machine"]["date"], "git_commit": new["machine"]["git_commit"],
        "load_average_at_start": new["machine"]["load_average_at_start"],
        "servers": new["parameters"]["servers"], "runtimes": new["parameters"]["runtimes"],
        "workloads": new["parameters"]["workloads"], "elapsed_s": new["elapsed_s"]}]
    out["elapsed_s"] = old["elapsed_s"] + new["elapsed_s"]
    params = dict(old["parameters"])
    for k in ("servers", "runtimes", "workloads"):
        params[k] = list(dict.fromkeys(params[k] + new["parameters"][k]))
    out["parameters"] = params
    return out


def print_cell(cell, i, n):
    s = cell.get("summary") or {}
    rps, cpu = s.get("requests_per_s"), s.get("cpu_per_request_us")
    what = f"{cell['label']} [{servers.RUNTIME_LABELS[cell['runtime']]}] {cell['workload']}"
    if cell["status"] in ("ok", "errors") and rps:
        extra = f", {s['errors']} errors" if s["errors"] else ""
        print(f"[{i}/{n}] {what}: {rps['median']:.0f} req/s ({rps['min']:.0f}-{rps['max']:.0f}), "
              f"{cpu['median']:.1f} us CPU/request{extra} ({cell['wall_s']} s)", flush=True)
    else:
        print(f"[{i}/{n}] {what}: {cell['status'].upper()}: {cell['error']}", flush=True)


def main(argv):
    args = parse_args(argv)
    if args.report_only:
        data = json.loads((RESULTS / "survey.json").read_text())
        report.write_all(data, RESULTS)
        return 0
    if not args.estimate and not os.access(args.hammer, os.X_OK):
        print(f"survey: {args.hammer} is missing: run `make build` (or pass --build-dir)",
              file=sys.stderr)
        return 1
    if not args.no_install and not args.estimate and args.matrix != "demo":
        install_peers()
    cells = matrix(args)
    est = estimate_s(cells, args)
    banner = {"quick": "QUICK matrix (make survey QUICK=1): fewer servers, requests and workloads",
              "demo": "DEMO: the quick cost ladder (make demo)",
              "reduced": "REDUCED matrix: not the survey's full parameters",
              "full": "FULL survey matrix"}[args.matrix]
    print(f"survey: {banner}")
    print(f"survey: {len(cells)} cells ({len(args.servers)} servers x runtimes x "
          f"{len(args.workloads)} workloads), {args.requests} requests per run of which "
          f"{args.warmup} warm-up (once per cell), {args.runs} runs; "
          f"estimated at most {est / 60:.0f} min", flush=True)
    if args.cell_seconds:
        print(f"survey: at most about {args.cell_seconds:.0f} s per cell: slower servers get "
              f"fewer requests (each cell records its counts)")
    if args.estimate:
        return 0
    client = survey_client(args.hammer)
    machine = machine_info(args)  # at the start: the date and load the run began with
    results = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="anvil-survey-") as tmp:
        files = request_files(tmp)
        # A snapshot of the anvil package and its built extensions: a rebuild in
        # the tree during the run cannot change or break the servers under test.
        args.python_dir = os.path.join(tmp, "python")
        shutil.copytree(ROOT / "python" / "anvil", os.path.join(args.python_dir, "anvil"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        for i, (s, runtime, workload) in enumerate(cells, 1):
            cell = run_cell(s, runtime, workload, files, args, client)
            results.append(cell)
            print_cell(cell, i, len(cells))
    data = {"matrix": args.matrix, "label": args.label, "machine": machine,
            "parameters": {"requests": args.requests, "warmup": args.warmup, "runs": args.runs,
                           "counted_per_run": args.requests - args.warmup, "threads": THREADS,
                           "connections": CONNECTIONS, "server_cpu": SERVER_CPU,
                           "client_cpu": CLIENT_CPU, "servers": args.servers,
                           "runtimes": args.runtimes, "workloads": args.workloads,
                           "cell_seconds": args.cell_seconds},
            "load_average_at_end": os.getloadavg(),
            "elapsed_s": round(time.monotonic() - started, 1),
            "survey_2013": servers.SURVEY_2013, "cells": results}
    print(f"survey: done in {data['elapsed_s'] / 60:.1f} min")
    if args.matrix == "demo":
        print(report.ladder_text(data))
        return 0
    if args.merge and Path(args.out).exists():
        data = merge(json.loads(Path(args.out).read_text()), data)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(data, indent=1) + "\n")
    print(f"survey: wrote {args.out}")
    report.write_all(data, Path(args.out).parent)
    print(report.survey_text(data))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
