#!/usr/bin/python3
"""`make survey`: the 2013 WSGI server survey, redone on CPython 3.11 and PyPy 3.9,
with the cost ladder that takes a request apart stage by stage (issue 5) and
uvicorn's loop x parser matrix as a second, independent ladder (issue 14).

    bench/survey/survey.py [--quick | --demo] [--requests N --warmup M --runs R]
                           [--pypy-requests N --pypy-warmup M]
                           [--servers a,b] [--runtimes cpython,pypy]
                           [--workloads close-chrome,...] [--full-size W,..|none]
                           [--cell-seconds S] [--out FILE] [--resume | --merge]
                           [--estimate] [--build-dir build]
    bench/survey/survey.py --report-only      # redo SURVEY.md and the charts from --out
    bench/survey/survey.py --compare A B      # two runs' results side by side

Every cell of the matrix (server x runtime x workload) is measured the same way:
start the server pinned to core 0 (bench/measure), check one response
per request profile (status 200, the 13-byte body), then run `hammer` pinned to
core 1 (4 threads x 10 connections, the survey's client shape):

  1. the warm-up, by the shared rule (measure.warm_up): slices of requests,
     not counted, until the last two slices' server CPU per request agree
     within 5% (at least 2 slices, at most 12): PyPy's JIT settles;
  2. `--runs` counted runs between two snapshots of the server's process-tree
     CPU time.

The survey's workload runs at the survey's size (slices of 15000 requests, so
that the least warm-up is its 30000; runs of 90000) for every server that
answers at least 2000 requests/s; a slower server gets the time those counts
take at 2000 requests/s (labelled capped). The other workloads are reduced to
about --cell-seconds per cell. A server that cannot start, answers wrongly or
dies is recorded as failed with the reason; one whose modules do not import on
a runtime as not available, with the import error; none is left out.

The results JSON is rewritten after every cell (complete: false until the end),
so an interrupted run keeps what it measured; --resume measures only the rest.
Results: bench/results/survey.json (raw), bench/results/SURVEY.md, the charts
and the README's survey section (report.py). --quick and --demo say so in
every output they make.
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
SURVEY_REQUESTS, SURVEY_WARMUP, SURVEY_RUNS = 120000, 30000, 3
FULL_RATE = 2000.0    # requests/s from which a server gets the survey's counts (issue 14)
PROBE = 500           # the rate probe before the first warm-up slice of a sized cell
MIN_SLICE, MIN_COUNTED = 200, 1000  # the fewest requests of a warm-up slice, of a counted run
# The warm-up rule (bench/measure/warmup.py, shared with bench/apps and the
# demo): slices until the last two slices' server CPU per request agree
# within 5%, at least 2, at most 12.
WARMUP_RULE = {"tolerance": 0.05, "min_slices": 2, "max_slices": 12}
STATS_LINE = re.compile(r"anvil: stats(?: pid \d+)?: requests (\d+); (.*)")

# (mode, profile): mode "close" is the survey's (a new connection per request).
WORKLOADS = {
    "close-chrome": ("close", "chrome-2013"),
    "close-ab": ("close", "ab"),
    "keepalive-chrome": ("keepalive", "chrome-2013"),
    "keepalive-ab": ("keepalive", "ab"),
}

# The full matrix (`make survey`): the survey's own workload at the survey's
# size (120000 requests of which 30000 warm-up, 3 runs) for every server that
# answers at least FULL_RATE requests/s, slower ones time-capped; the other
# workloads reduced to about cell_seconds per cell.
FULL = {
    "servers": [s.key for s in servers.SERVERS], "runtimes": ["cpython", "pypy"],
    "workloads": list(WORKLOADS), "full_size": ["close-chrome"], "cell_seconds": 12.0,
    "requests": SURVEY_REQUESTS, "warmup": SURVEY_WARMUP, "runs": SURVEY_RUNS,
    "pypy_requests": None, "pypy_warmup": None,
}
# --quick: under 5 minutes on 2 quiet cores. The survey's servers that ran in
# 2013 and disagree between the runtimes (tornado, twisted), the ladder, the
# uvicorn matrix (and uvicorn with an ASGI app: its WSGI adapter's cost) and
# hypercorn, the ceiling; two workloads (the survey's and keep-alive); fixed
# small counts.
QUICK = {
    "servers": ["gunicorn-sync", "tornado", "twisted", "anvil-fast", "ref-python", "ref-fast",
                "anvil-pynative", "uvicorn-uvloop-httptools", "uvicorn-uvloop-h11",
                "uvicorn-asyncio-httptools", "uvicorn-asyncio-h11", "uvicorn-asgi", "hypercorn",
                "nginx"],
    "runtimes": ["cpython", "pypy"], "workloads": ["close-chrome", "keepalive-chrome"],
    "full_size": [], "cell_seconds": 0.0, "requests": 1400, "warmup": 400, "runs": 3,
    "pypy_requests": None, "pypy_warmup": None,
}
# --demo (`make demo`): the quick ladder, printed as a table, under 5 minutes.
# PyPy's cells get their own counts: its JIT compiles over the first few
# thousand requests of a server, so its warm-up slices are 5000 requests
# (report.SMALL_SLICE: below that, two slices of a JIT still compiling can
# agree by chance) and its counted runs as many; CPython settles in its
# first slices. wsgiref (one connection at a time, a few hundred requests/s)
# is left to the survey: at these counts it alone would take minutes.
DEMO = {
    "servers": ["ref-python", "ref-fast", "anvil-fast", "anvil-llhttp", "anvil-pynative",
                "anvil-native"],
    "runtimes": ["cpython", "pypy"], "workloads": ["keepalive-chrome", "keepalive-ab"],
    "full_size": [], "cell_seconds": 0.0, "requests": 3000, "warmup": 1000, "runs": 5,
    "pypy_requests": 15000, "pypy_warmup": 10000,
}
# For --estimate, where no earlier results give a cell's rate: requests/s of
# a pure-Python server on this 2-core machine class (and of the two that
# serve one connection at a time); the estimate errs long.
EST_RATE = {"close": 3000.0, "keepalive": 5000.0}
EST_SLOW = {"wsgiref": 230.0, "cheroot": 230.0}
EST_START_S = {"cpython": 3.0, "pypy": 6.0, "native": 1.0}
EST_SLICES = {"cpython": 2, "pypy": 5, "native": 2}  # warm-up slices a cell needs, typically
EST_RUN_S = 0.3  # what each client run costs besides its requests: spawn, /proc walks


def survey_client(hammer_path):
    """hammer in the survey's client shape: THREADS threads (pinned, as every
    client, with taskset to CLIENT_CPU), each response checked for status 200."""
    return measure.Hammer(hammer_path, threads=THREADS, expect_status="200", timeout="10s")


def measure_run(server, client, request_file, close, requests):
    """measure.counted_run(); the survey's CPU figure is the nanosecond
    (schedstat) one: over the quick matrix's few thousand requests, 10 ms
    ticks are several µs per request of resolution. A thread that exits
    during the run takes its time with it, so the tick count is recorded
    beside it as a check."""
    out = measure.counted_run(server, client, request_file, close, requests, CONNECTIONS,
                              client_cpu=CLIENT_CPU)
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


def counts(args, runtime):
    """(requests, warmup) of a cell on runtime: PyPy's own where given."""
    if runtime == "pypy" and args.pypy_requests is not None:
        return args.pypy_requests, args.pypy_warmup
    return args.requests, args.warmup


class Sizing:
    """How many requests a warm-up slice and a counted run of one workload get.

    The survey's counts are the ceiling: a slice is half the warm-up (so the
    rule's least, two slices, is the survey's warm-up), a run is the counted
    requests. A workload run at full size cuts each to what the server
    answers, at its latest rate, in the time the survey's count takes at
    FULL_RATE: a server at or above FULL_RATE gets the survey's counts, a
    slower one the same time (it is labelled capped). Another workload, with
    a cell budget, cuts each slice and run to an equal share of it (the least
    warm-up and the runs fill the budget). Without either, the counts are
    fixed and no probe is needed. A PyPy cell takes --pypy-requests and
    --pypy-warmup in place of --requests and --warmup where they are given.
    """

    def __init__(self, args, workload, runtime=None):
        requests, warmup = counts(args, runtime)
        self.slice_max = max(warmup // 2, 1)
        self.run_max = requests - warmup
        if workload in args.full_size:
            self.slice_s = self.slice_max / args.full_rate
            self.run_s = self.run_max / args.full_rate
        elif args.cell_seconds:
            self.slice_s = self.run_s = args.cell_seconds / (args.runs + WARMUP_RULE["min_slices"])
        else:
            self.slice_s = self.run_s = None

    @property
    def needs_rate(self):
        return self.slice_s is not None

    def slice(self, rate):
        if self.slice_s is None:
            return self.slice_max
        return min(self.slice_max, max(MIN_SLICE, int(rate * self.slice_s)))

    def run(self, rate):
        if self.run_s is None:
            return self.run_max
        return min(self.run_max, max(MIN_COUNTED, int(rate * self.run_s)))


def warm_up(srv, client, request_file, close, sizing, cell):
    """The probe (when the sizes depend on the rate), then measure.warm_up()'s
    slices, each sized from the rate of the one before. Returns the rate of
    the last slice (warm) and records both in the cell."""
    rate = None
    if sizing.needs_rate:
        n = min(PROBE, sizing.slice_max)
        r = client.run(srv.host, srv.port, request_file, close, n, CONNECTIONS, cpu=CLIENT_CPU)
        rate = r.requests_per_s or 1.0
        cell["probe"] = {"requests": n, "requests_per_s": round(rate, 1), "errors": r.errors}
    last = {"rate": rate}

    def one_slice():
        n = sizing.slice(last["rate"])
        m = measure_run(srv, client, request_file, close, n)
        last["rate"] = m["requests_per_s"] or 1.0
        return {"cpu_us": m["cpu_per_request_us"], "requests": m["requests"],
                "requests_per_s": round(m["requests_per_s"], 1), "errors": m["errors"],
                "duration_s": round(m["duration_s"], 3)}

    record = measure.warm_up(one_slice, **WARMUP_RULE)
    record["requests"] = sum(s["requests"] for s in record["slices"])
    cell["warmup"] = record
    return last["rate"]


class OpenCell:
    """A cell whose server is up, answered correctly and is warm: its counted
    runs can be taken one at a time, between other cells' runs, and close()
    then checks the answer again, stops the server and sums up the cell."""

    def __init__(self, server_def, cell, srv, request_file, request, close, counted, started):
        self.server_def, self.cell, self.srv = server_def, cell, srv
        self.request_file, self.request, self.close_mode = request_file, request, close
        self.counted, self.started = counted, started
        self.closed = False

    def run(self, client):
        """One counted run; a failure ends the cell (its server is stopped at close())."""
        if self.cell["status"] == "failed":
            return
        try:
            self.cell["runs"].append(measure_run(self.srv, client, self.request_file,
                                                 self.close_mode, self.counted))
        except Exception as e:  # noqa: BLE001 - a wrong answer or a crash is a result
            self.cell.update(status="failed", error=f"{type(e).__name__}: {e}"[:500])

    def close(self):
        cell = self.cell
        self.closed = True
        if cell["status"] != "failed":
            try:
                measure.verify(self.srv.host, self.srv.port, self.request)
            except Exception as e:  # noqa: BLE001
                cell.update(status="failed", error=f"{type(e).__name__}: {e}"[:500])
        _, log = self.srv.stop_and_read_log()
        return finish_cell(cell, self.server_def, log, self.started)

    def stop(self):
        """Stops the server of a cell that is not closed (an interrupted run)."""
        if not self.closed:
            self.closed = True
            self.srv.stop_and_read_log()


def finish_cell(cell, server_def, log, started):
    """The cell's status, --stats figures and summary once its server has stopped."""
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
    cell["wall_s"] = round(time.monotonic() - started, 1)
    cell["measured_at"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return cell


def open_cell(server_def, runtime, workload, files, args, client):
    """Start, check and warm up one server x runtime x workload. Returns
    (cell, OpenCell), or (cell, None) where the cell is already over: not
    available, did not start, answered wrongly or died while warming up."""
    mode, profile = WORKLOADS[workload]
    cell = {"server": server_def.key, "label": server_def.label, "runtime": runtime,
            "workload": workload, "mode": mode, "profile": profile, "group": server_def.group,
            "ladder_step": server_def.ladder[0] if server_def.ladder else None,
            "note": server_def.note, "status": "ok", "error": None, "runs": [],
            "full_size": workload in args.full_size,
            "load_average_at_start": measure.load_average()}
    reason = server_def.unavailable_on(runtime)
    if reason:
        cell.update(status="not available", error=reason)
        return cell, None
    request_file = files[(mode, profile)]
    close = mode == "close"
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
        return cell, None
    try:
        measure.verify(srv.host, srv.port, request)
        sizing = Sizing(args, workload, runtime)
        rate = warm_up(srv, client, request_file, close, sizing, cell)
    except Exception as e:  # noqa: BLE001 - a wrong answer or a crash is a result
        cell.update(status="failed", error=f"{type(e).__name__}: {e}"[:500])
        _, log = srv.stop_and_read_log()
        return finish_cell(cell, server_def, log, t0), None
    except BaseException:  # an interrupt while warming up: no server is left running
        srv.stop_and_read_log()
        raise
    counted = sizing.run(rate)
    cell["counted_per_run"] = counted
    cell["capped"] = counted < sizing.run_max
    return cell, OpenCell(server_def, cell, srv, request_file, request, close, counted, t0)


def run_cell(server_def, runtime, workload, files, args, client):
    """One server x runtime x workload: start, verify, warm up, runs, stop."""
    cell, opened = open_cell(server_def, runtime, workload, files, args, client)
    if opened is None:
        return cell
    try:
        for _ in range(args.runs):
            opened.run(client)
        return opened.close()
    finally:
        opened.stop()


def run_interleaved(cells, files, args, client):  # -> [cell], in the order of cells
    """--interleave: every cell's server started and warmed up first, then
    the counted runs in rounds, one run of each cell per round, so that a
    slow spell of the machine (on a shared host, seconds to minutes) falls
    on every cell alike and shows in each cell's spread instead of moving
    whole cells."""
    opened = []
    try:
        for s, runtime, workload in cells:
            opened.append(open_cell(s, runtime, workload, files, args, client))
        for _ in range(args.runs):
            for _cell, o in opened:
                if o is not None:
                    o.run(client)
        return [o.close() if o is not None else cell for cell, o in opened]
    finally:
        for _cell, o in opened:
            if o is not None:
                o.stop()


def cell_key(cell):
    return (cell["server"], cell["runtime"], cell["workload"])


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


def known_rates(path):
    """{(server, runtime, workload): requests/s} of an earlier results file,
    for the estimate; {} when there is none."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError, TypeError):
        return {}
    out = {}
    for c in data.get("cells", []):
        rps = ((c.get("summary") or {}).get("requests_per_s") or {}).get("median")
        if rps:
            out[cell_key(c)] = rps
    return out


def estimate_cell_s(server_def, runtime, workload, args, rates):
    """Seconds one cell should take: its start, the probe, the warm-up slices
    a cell on that runtime typically needs, the runs; at the rate an earlier
    run measured, else EST_RATE."""
    mode = WORKLOADS[workload][0]
    rate = rates.get((server_def.key, runtime, workload)) or EST_SLOW.get(
        server_def.key, EST_RATE[mode])
    sizing = Sizing(args, workload, runtime)
    slices = EST_SLICES[runtime]
    n = (PROBE if sizing.needs_rate else 0) + slices * sizing.slice(rate)
    n += args.runs * sizing.run(rate)
    return EST_START_S[runtime] + n / rate + EST_RUN_S * (1 + slices + args.runs)


def estimate_s(cells, args, rates):
    return sum(estimate_cell_s(s, rt, w, args, rates) for s, rt, w in cells
               if not s.unavailable_on(rt))


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
    mode.add_argument("--compare", nargs=2, metavar=("A", "B"),
                      help="two runs' results JSON (e.g. two `--demo --out` runs) side by "
                      "side: each cell's median (min–max) and whether the ranges overlap, the "
                      "ladder's differences in both; runs nothing")
    mode.add_argument("--report-only", action="store_true",
                      help="rewrite SURVEY.md and the charts (and the README section, for "
                      "bench/results/survey.json) from --out")
    p.add_argument("--requests", type=int, help=f"requests per run, warm-up included "
                   f"(survey: {SURVEY_REQUESTS})")
    p.add_argument("--warmup", type=int, help=f"the least warm-up, not counted: two slices of "
                   f"half of it, more until CPU per request settles (survey: {SURVEY_WARMUP})")
    p.add_argument("--pypy-requests", type=int, help="requests per run of a PyPy cell, warm-up "
                   f"included (default: --requests; demo: {DEMO['pypy_requests']})")
    p.add_argument("--pypy-warmup", type=int, help="the least warm-up of a PyPy cell "
                   f"(default: --warmup; demo: {DEMO['pypy_warmup']})")
    p.add_argument("--runs", type=int, help=f"counted runs per cell (default {SURVEY_RUNS})")
    p.add_argument("--servers", help="comma-separated keys: " + ",".join(servers.BY_KEY))
    p.add_argument("--runtimes", help="comma-separated: cpython,pypy")
    p.add_argument("--workloads", help="comma-separated: " + ",".join(WORKLOADS))
    p.add_argument("--full-size", help="comma-separated workloads run at the survey's counts "
                   f"for servers that answer at least --full-rate requests/s, or 'none' "
                   f"(full matrix: {','.join(FULL['full_size'])})")
    p.add_argument("--full-rate", type=float, default=FULL_RATE,
                   help=f"requests/s from which a server gets the full counts (default "
                   f"{FULL_RATE:g}); a slower one gets the time they take at this rate")
    p.add_argument("--cell-seconds", type=float,
                   help="time budget per cell of the other workloads: each warm-up slice and "
                   f"run gets 1/(runs+2) of it (full matrix: {FULL['cell_seconds']:g}; 0: none)")
    p.add_argument("--build-dir", default=str(ROOT / "build"),
                   help="where bin/hammer and bin/anvil-native are (default build/)")
    p.add_argument("--out", help="results JSON, SURVEY.md and charts beside it (default "
                   "bench/results/survey.json; quick: BUILD/survey-quick/; demo: none)")
    p.add_argument("--estimate", action="store_true", help="print the plan and its estimated "
                   "run time, run nothing")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="keep the cells already in --out (same parameters; not failed), "
                       "measure the rest")
    again.add_argument("--merge", action="store_true",
                       help="replace only the cells measured now in the existing results JSON "
                       "(e.g. a rerun of the servers that failed), keeping the others")
    p.add_argument("--interleave", action=argparse.BooleanOptionalAction,
                   help="start and warm up every cell's server first, then take the counted "
                   "runs in rounds, one of each cell per round, so that a slow spell of the "
                   "machine falls on every cell alike (default: on for --demo, else off)")
    p.add_argument("--no-install", action="store_true", help="do not apt-get the peers")
    p.add_argument("--label", default="", help="a note on this run, printed in SURVEY.md")
    args = p.parse_args(argv)
    preset = QUICK if args.quick else DEMO if args.demo else FULL
    args.matrix = "quick" if args.quick else "demo" if args.demo else "full"
    args.servers = args.servers.split(",") if args.servers else preset["servers"]
    args.runtimes = args.runtimes.split(",") if args.runtimes else preset["runtimes"]
    args.workloads = args.workloads.split(",") if args.workloads else preset["workloads"]
    if args.full_size is None:
        args.full_size = preset["full_size"]
    else:
        args.full_size = [] if args.full_size == "none" else args.full_size.split(",")
    if args.cell_seconds is None:
        args.cell_seconds = preset["cell_seconds"]
    if args.interleave is None:
        args.interleave = args.demo
    for name in ("requests", "warmup", "runs", "pypy_requests", "pypy_warmup"):
        value = getattr(args, name)
        if value is None:
            setattr(args, name, preset[name])
        elif ("warmup" not in name and value < 1) or value < 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if (args.pypy_requests is None) != (args.pypy_warmup is None):
        # One of the two given: the other is --requests' or --warmup's.
        args.pypy_requests = args.requests if args.pypy_requests is None else args.pypy_requests
        args.pypy_warmup = args.warmup if args.pypy_warmup is None else args.pypy_warmup
    if args.cell_seconds < 0 or args.full_rate <= 0:
        p.error("--cell-seconds and --full-rate must be positive")
    bad = ([k for k in args.servers if k not in servers.BY_KEY]
           + [r for r in args.runtimes if r not in servers.RUNTIMES]
           + [w for w in args.workloads + args.full_size if w not in WORKLOADS])
    if bad:
        p.error(f"unknown names: {', '.join(bad)}")
    if args.requests <= args.warmup or (args.pypy_requests is not None
                                        and args.pypy_requests <= args.pypy_warmup):
        p.error("--requests must exceed --warmup (it counts the warm-up), and "
                "--pypy-requests --pypy-warmup")
    chosen = {"servers": set(args.servers), "runtimes": set(args.runtimes),
              "workloads": set(args.workloads), "full_size": set(args.full_size),
              "cell_seconds": args.cell_seconds, "requests": args.requests,
              "warmup": args.warmup, "runs": args.runs, "pypy_requests": args.pypy_requests,
              "pypy_warmup": args.pypy_warmup}
    full = {k: set(v) if isinstance(v, list) else v for k, v in FULL.items()}
    if args.matrix == "full" and (chosen != full or args.full_rate != FULL_RATE):
        args.matrix = "reduced"
    args.build_dir = os.path.abspath(args.build_dir)
    args.hammer = os.path.join(args.build_dir, "bin", "hammer")
    if args.out is None:
        # The quick matrix goes to the build tree: it never replaces the committed survey.
        args.out = {"full": RESULTS / "survey.json", "reduced": RESULTS / "survey.json",
                    "quick": Path(args.build_dir) / "survey-quick" / "survey.json",
                    "demo": None}[args.matrix]
    if args.out is not None:
        args.out = Path(args.out).resolve()
    if args.interleave and args.resume:
        p.error("--interleave cannot --resume: the kept cells' runs are not in this run's rounds")
    if args.demo and (args.resume or args.merge):
        p.error("--demo writes no results: nothing to resume or merge")
    return args


def committed(out):
    """Whether out is the committed results file (whose figures the README shows)."""
    return out is not None and Path(out).resolve() == (RESULTS / "survey.json").resolve()


def parameters(args):
    out = {"requests": args.requests, "warmup": args.warmup, "runs": args.runs,
           "counted_per_run": args.requests - args.warmup, "threads": THREADS,
           "connections": CONNECTIONS, "server_cpu": SERVER_CPU, "client_cpu": CLIENT_CPU,
           "servers": args.servers, "runtimes": args.runtimes, "workloads": args.workloads,
           "full_size": args.full_size, "full_rate": args.full_rate,
           "cell_seconds": args.cell_seconds, "warmup_rule": WARMUP_RULE,
           "probe": PROBE, "min_slice": MIN_SLICE, "min_counted": MIN_COUNTED}
    if args.pypy_requests is not None:  # absent otherwise: earlier results stay resumable
        out.update(pypy_requests=args.pypy_requests, pypy_warmup=args.pypy_warmup)
    return out


def merge(old, new):
    """old's results with new's cells in place of the same server x runtime x
    workload; the merge is recorded (date, commit, load, what was replaced)."""
    fresh = {cell_key(c): c for c in new["cells"]}
    cells = [fresh.pop(cell_key(c), c) for c in old["cells"]] + list(fresh.values())
    out = dict(old)
    out.pop("interleaved", None)  # the merged cells' runs are not in old's rounds
    out["cells"] = cells
    out["complete"] = old.get("complete", True) and new.get("complete", True)
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


def print_cell(cell, i, n, kept=False):
    s = cell.get("summary") or {}
    rps, cpu = s.get("requests_per_s"), s.get("cpu_per_request_us")
    what = f"{cell['label']} [{servers.RUNTIME_LABELS[cell['runtime']]}] {cell['workload']}"
    if kept:
        what += " (kept, --resume)"
    if cell["status"] in ("ok", "errors") and rps:
        extra = f", {s['errors']} errors" if s["errors"] else ""
        wu = cell.get("warmup") or {}
        if wu.get("slices"):
            extra += (f"; warm-up {len(wu['slices'])} slices, {wu['requests']} requests"
                      + ("" if wu["settled"] else ", NOT settled"))
        if cell.get("capped"):
            extra += f"; capped at {cell['counted_per_run']} per run"
        print(f"[{i}/{n}] {what}: {rps['median']:.0f} req/s ({rps['min']:.0f}-{rps['max']:.0f}), "
              f"{cpu['median']:.1f} us CPU/request ({cpu['min']:.1f}-{cpu['max']:.1f}){extra} "
              f"({cell['wall_s']} s)", flush=True)
    else:
        print(f"[{i}/{n}] {what}: {cell['status'].upper()}: {cell['error']}", flush=True)


ROUNDS_TEXT = ", taken in rounds across the cells (one run of each cell per round)"


def rule_text(args):
    """How every cell is warmed and measured, for the console: the warm-up
    rule (measure.warm_up with WARMUP_RULE), the counts, what is printed."""
    def sizes(runtime):
        requests, warmup = counts(args, runtime)
        return f"{max(warmup // 2, 1)}", f"{requests - warmup}"

    (sl, run), (psl, prun) = sizes(None), sizes("pypy")
    pypy = (psl, prun) != (sl, run) and "pypy" in args.runtimes
    upto = "up to " if args.full_size or args.cell_seconds else ""
    return (f"each cell is warmed by the shared rule (bench/measure/warmup.py): slices of {upto}"
            f"{sl} requests{f' (PyPy: {psl})' if pypy else ''}, not counted, until the "
            f"server's CPU per request in the last two slices agrees within "
            f"{WARMUP_RULE['tolerance']:.0%} (at least {WARMUP_RULE['min_slices']} slices, at "
            f"most {WARMUP_RULE['max_slices']}); then {args.runs} counted runs of {upto}{run} "
            f"requests{f' (PyPy: {prun})' if pypy else ''}{ROUNDS_TEXT if args.interleave else ''}"
            "; a cell's figure is the median (min–max) of its runs")


def plan_text(cells, args, rates):
    """--estimate: one line per cell, with how it is sized and its estimate."""
    lines = []
    for s, rt, w in cells:
        why = s.unavailable_on(rt)
        if why:
            lines.append(f"  {s.key:26} {rt:8} {w:17} n/a: {why}")
            continue
        size = ("full size" if w in args.full_size else
                f"<= {args.cell_seconds:g} s" if args.cell_seconds else "fixed counts")
        lines.append(f"  {s.key:26} {rt:8} {w:17} {size:13} "
                     f"~{estimate_cell_s(s, rt, w, args, rates):5.0f} s")
    return "\n".join(lines)


def main(argv):
    args = parse_args(argv)
    if args.compare:
        a, b = (json.loads(Path(f).read_text()) for f in args.compare)
        print(report.compare_text(a, b))
        return 0
    if args.report_only:
        data = json.loads(args.out.read_text())
        report.write_all(data, args.out.parent, readme=committed(args.out))
        return 0
    if not args.estimate and not os.access(args.hammer, os.X_OK):
        print(f"survey: {args.hammer} is missing: run `make build` (or pass --build-dir)",
              file=sys.stderr)
        return 1
    if not args.no_install and not args.estimate and args.matrix != "demo":
        install_peers()
    cells = matrix(args)
    rates = known_rates(args.out if args.out and args.out.exists() else RESULTS / "survey.json")
    est = estimate_s(cells, args, rates)
    banner = {"quick": "QUICK matrix (make survey QUICK=1): fewer servers, requests and workloads",
              "demo": "DEMO: the quick cost ladder (make demo)",
              "reduced": "REDUCED matrix: not the survey's full parameters",
              "full": "FULL survey matrix"}[args.matrix]
    print(f"survey: {banner}")
    print(f"survey: {len(cells)} cells ({len(args.servers)} servers x runtimes x "
          f"{len(args.workloads)} workloads); estimated about {est / 60:.0f} min")
    print(f"survey: {rule_text(args)}", flush=True)
    if args.full_size:
        print(f"survey: {', '.join(args.full_size)} at full size for servers from "
              f"{args.full_rate:g} req/s (slower ones: the time that takes at that rate)")
    if args.cell_seconds:
        print(f"survey: other workloads reduced to about {args.cell_seconds:g} s per cell")
    if args.estimate:
        print(plan_text(cells, args, rates))
        return 0
    params = parameters(args)
    old, done = None, {}
    if (args.resume or args.merge) and args.out.exists():
        old = json.loads(args.out.read_text())
    if args.resume and old:
        if old.get("parameters") != params:
            print("survey: --resume: the results in --out were made with other parameters; "
                  "start afresh (or pass the same options)", file=sys.stderr)
            return 2
        done = {cell_key(c): c for c in old["cells"] if c["status"] != "failed"}
        print(f"survey: --resume: {len(done)} cells kept from {args.out}")
    client = survey_client(args.hammer)
    data = {"matrix": args.matrix, "label": args.label, "complete": False,
            "interleaved": args.interleave,
            "machine": old["machine"] if done else machine_info(args),
            "parameters": params, "survey_2013": servers.SURVEY_2013, "cells": []}
    if done:  # when and under what load each part of the run was measured
        now = machine_info(args)
        data["resumes"] = old.get("resumes", []) + [{
            k: now[k] for k in ("date", "git_commit", "load_average_at_start")}]
    started = time.monotonic() - (old.get("elapsed_s", 0) if done else 0)
    m = data["machine"]
    print(f"survey: {m['date']}, commit {m['git_commit']}, {m['cpu_model']} ({m['cores']} "
          f"cores), load average {report.load_text(m['load_average_at_start'])} at the start",
          flush=True)

    def save():
        data["load_average_at_end"] = os.getloadavg()
        data["elapsed_s"] = round(time.monotonic() - started, 1)
        if args.out is None:
            return data
        out = merge(old, data) if args.merge and old else data
        measure.write_json(args.out, out)
        return out

    with tempfile.TemporaryDirectory(prefix="anvil-survey-") as tmp:
        files = request_files(tmp)
        # A snapshot of the anvil package and its built extensions: a rebuild in
        # the tree during the run cannot change or break the servers under test.
        args.python_dir = os.path.join(tmp, "python")
        shutil.copytree(ROOT / "python" / "anvil", os.path.join(args.python_dir, "anvil"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        measured = {}
        if args.interleave:
            todo = [c for c in cells if (c[0].key, c[1], c[2]) not in done]
            print(f"survey: {len(todo)} servers started and warmed up first, then "
                  f"{args.runs} rounds of one counted run each (--interleave)", flush=True)
            for (s, runtime, workload), cell in zip(todo, run_interleaved(todo, files, args,
                                                                          client)):
                measured[(s.key, runtime, workload)] = cell
        for i, (s, runtime, workload) in enumerate(cells, 1):
            key = (s.key, runtime, workload)
            kept = done.get(key)
            cell = kept or measured.get(key) or run_cell(s, runtime, workload, files, args,
                                                         client)
            data["cells"].append(cell)
            save()
            print_cell(cell, i, len(cells), kept=bool(kept))
    data["complete"] = True
    out = save()
    print(f"survey: done in {data['elapsed_s'] / 60:.1f} min, load average "
          f"{report.load_text(data['load_average_at_end'])} at the end")
    if args.matrix == "demo":
        print(report.ladder_text(data))
        return 0
    print(f"survey: wrote {args.out}")
    report.write_all(out, args.out.parent, readme=committed(args.out))
    print(report.survey_text(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
