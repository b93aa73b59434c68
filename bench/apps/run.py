#!/usr/bin/python3
"""`make apps`: real apps under load on every server and runtime (issue 13).

    bench/apps/run.py [--quick] [--apps a,b] [--servers a,b] [--runtimes cpython,pypy]
                      [--mode close|keepalive] [--out FILE] [--resume] [--estimate]
    bench/apps/run.py --report-only [--out FILE]   # APPS.md, charts, README from the JSON

Each cell (app x server x runtime) is measured the same way, with the shared
library (bench/measure): the server starts pinned to core 0 serving
served:application (the app wrapped in timing.py's CPU clock), answers the
app's request correctly (status and body shape) and refuses its bad request;
hammer, pinned to core 1, then

  1. warms it up by measure.warm_up(): slices until the last two slices'
     server CPU per request agree within 5% (PyPy's JIT), up to a cap;
  2. runs --runs counted runs at full speed: the server tree's CPU per request
     (schedstat, ns), the app's own CPU per request (timing.py), requests/s;
  3. sweeps the offered rate (hammer --rate) from 10% to 120% of the median
     full-speed rate, --sweep-runs times: coordinated-omission-corrected
     p50/p99/p99.9 per step;

and the response is checked once more. A server that cannot run, fails to
start, answers wrongly or dies is recorded with the reason, never left out.
The results JSON is rewritten after every cell (complete: false until the
end), so an interrupted run keeps what it measured; --resume skips the cells
already there.
"""

import argparse
import datetime
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "bench"))

import matrix  # noqa: E402
import measure  # noqa: E402  bench/measure: servers, CPU of a tree, hammer, warm-up
import report  # noqa: E402
import timing  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SERVER_CPU, CLIENT_CPU = 0, 1
CONNECTIONS = 40
RATE_SLOT_S = 0.25   # at low rates, a connection's slots at most this far apart
STEP_FLOOR = 3       # the fewest requests of a rate step
FRACTIONS = [0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 1.0, 1.1, 1.2]

# Per-cell counts. Requests are sized from the rate the server reached in the
# previous slice or run (x_s seconds of it, at least min_x requests), so a slow
# app gets as many seconds as a fast one; a rate step lasts at most
# step_max_s (at 10% of a slow app's rate, step_min requests would take long).
PRESETS = {
    "full": {
        "servers": [s.key for s in matrix.SERVERS], "runtimes": list(matrix.RUNTIMES),
        "apps": ["hello", "flask", "django", "falcon"],
        "first_slice": 100, "slice_s": 1.0, "min_slice": 50, "max_slices": 15,
        "runs": 3, "run_s": 4.0, "min_run": 100,
        "sweep_runs": 3, "step_s": 3.0, "step_min": 300, "step_max_s": 20.0,
        "fractions": FRACTIONS,
    },
    # Under 5 minutes on 2 busy cores: anvil and gunicorn sync on CPython,
    # anvil on PyPy; short slices, runs and steps. On PyPy only hello and
    # Falcon: Flask and Django take thousands of requests before PyPy's JIT
    # settles (tens of ms a request until then), which only the full matrix
    # gives them. QUICK's PyPy figures are not warm either, and are marked so.
    "quick": {
        "servers": ["anvil", "gunicorn-sync"], "runtimes": list(matrix.RUNTIMES),
        "pypy_servers": ["anvil"], "pypy_apps": ["hello", "falcon"],
        "apps": ["hello", "flask", "django", "falcon"],
        "first_slice": 30, "slice_s": 0.2, "min_slice": 20, "max_slices": 4,
        "runs": 3, "run_s": 0.3, "min_run": 20,
        "sweep_runs": 3, "step_s": 0.15, "step_min": 15, "step_max_s": 0.4,
        "fractions": [0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 1.0, 1.2],
    },
}
# For --estimate only: requests/s assumed per app (CPython, one worker, a new
# connection per request, this machine class); the estimate errs long.
EST_RATE = {"hello": 3000.0, "flask": 600.0, "django": 40.0, "falcon": 1000.0}
EST_START_S = {"cpython": 4.0, "pypy": 10.0}
EST_RUN_S = 0.3  # what each client run costs besides its requests: spawn, /proc walks


class Cell:
    """One app x server x runtime being measured: its server, client, files."""

    def __init__(self, app, server, runtime, ctx):
        self.app, self.server, self.runtime, self.ctx = app, server, runtime, ctx
        self.p = ctx.params
        self.close = ctx.mode == "close"
        self.request_file = ctx.request_files[app.key]
        self.client = measure.Hammer(ctx.hammer, threads=1, expect_status=str(app.status),
                                     timeout="10s")
        self.timing_dir = tempfile.mkdtemp(prefix=f"timing-{app.key}-{server.key}-{runtime}-",
                                           dir=ctx.tmp)
        self.srv = None

    def spec(self):
        spec = self.server.start(matrix.RUNTIMES[self.runtime])
        spec.name = f"{self.server.key}-{self.runtime}-{self.app.key}"
        spec.env.update(self.ctx.env)
        spec.env.update({"ANVIL_BENCH_APP": self.app.key, "ANVIL_APP_TIMING_DIR": self.timing_dir})
        spec.cwd = str(HERE)
        return spec

    def check(self, timeout=10.0):
        """The app's answer to its request, and its refusal of a bad one."""
        r = measure.verify(self.srv.host, self.srv.port, self.ctx.requests[self.app.key],
                           status=self.app.status, body=None, timeout=timeout)
        self.app.check(r)
        if self.app.bad_request:
            measure.verify(self.srv.host, self.srv.port, self.app.bad_request,
                           status=self.app.bad_status, body=None)

    def run(self, requests, rate=None, connections=CONNECTIONS):
        """One counted run, with the app's own CPU from the timing files."""
        before = timing.read(self.timing_dir)
        r = measure.counted_run(self.srv, self.client, self.request_file, self.close, requests,
                                connections, rate=rate, client_cpu=CLIENT_CPU)
        after = timing.read(self.timing_dir)
        calls = after["calls"] - before["calls"]
        r["app_calls"] = calls
        r["app_measured_us"] = (round((after["ns"] - before["ns"]) / calls / 1e3, 3)
                                if calls else None)
        r["clock_us"] = round(after["clock_ns"] / 1e3, 3)
        r["timing_processes"] = after["processes"]
        r.update(split(r["schedstat_per_request_us"], r["app_measured_us"], r["clock_us"]))
        return r

    def warm_up(self):
        """measure.warm_up()'s rule, each slice sized from the last one's rate."""
        size = [self.p["first_slice"]]

        def one_slice():
            r = self.run(size[0])
            size[0] = max(self.p["min_slice"], int(r["requests_per_s"] * self.p["slice_s"]))
            return {"cpu_us": r["schedstat_per_request_us"], "requests": r["requests"],
                    "requests_per_s": round(r["requests_per_s"], 1), "errors": r["errors"]}

        return measure.warm_up(one_slice, max_slices=self.p["max_slices"])

    def sweep(self, max_rate):
        steps = [(f, max(1.0, round(f * max_rate, 1))) for f in self.p["fractions"]]
        out = [{"fraction": f, "offered_per_s": rate, "runs": []} for f, rate in steps]
        for _ in range(self.p["sweep_runs"]):  # whole sweeps, so that noise spreads over steps
            for step in out:
                rate = step["offered_per_s"]
                n = max(int(rate * self.p["step_s"]), self.p["step_min"])
                n = min(n, max(int(rate * self.p["step_max_s"]), STEP_FLOOR))
                r = self.run(n, rate=rate, connections=rate_connections(rate))
                step["runs"].append({k: r.get(k) for k in STEP_FIGURES})
        for step in out:
            runs = step["runs"]
            step["summary"] = {k: measure.summarize([r[k] for r in runs], 1) for k in (
                "p50_us", "p99_us", "p999_us", "uncorrected_p99_us", "requests_per_s",
                "schedstat_per_request_us", "client_cpu_per_request_us")}
            step["errors"] = sum(r["errors"] for r in runs)
        return out


STEP_FIGURES = ("requests", "connections", "errors", "error_kinds", "requests_per_s", "p50_us",
                "p99_us", "p999_us", "uncorrected_p50_us", "uncorrected_p99_us",
                "uncorrected_p999_us", "schedstat_per_request_us", "client_cpu_per_request_us")


def rate_connections(rate):
    """Connections for a run at `rate`: hammer paces each connection at
    rate/connections and, with --requests, a connection waits out its next
    slot before it learns that none is left; so at low rates fewer
    connections (a slot every RATE_SLOT_S at most), up to CONNECTIONS."""
    return int(min(CONNECTIONS, max(1, math.ceil(rate * RATE_SLOT_S))))


def split(total_us, app_measured_us, clock_us):
    """The request's CPU split between app and server. The wrapper costs two
    clock reads: about one inside its window (in app_measured), one outside
    (in the server's part); both are taken out."""
    if total_us is None or app_measured_us is None:
        return {"app_us": None, "server_us": None, "server_share": None}
    app = max(app_measured_us - clock_us, 0.0)
    server = total_us - app_measured_us - clock_us
    whole = app + server
    return {"app_us": round(app, 3), "server_us": round(server, 3),
            "server_share": round(server / whole, 4) if whole > 0 else None}


def run_cell(app, server, runtime, ctx):
    cell = {"app": app.key, "server": server.key, "runtime": runtime, "label": server.label,
            "note": server.note, "status": "ok", "error": None,
            "load_average_at_start": measure.load_average()}
    reason = server.unavailable.get(runtime)
    if reason:
        cell.update(status="not available", error=reason)
        return cell
    t0 = last = time.monotonic()
    phases = cell["phases_s"] = {}

    def phase(name):
        nonlocal last
        now = time.monotonic()
        phases[name] = round(now - last, 1)
        last = now

    c = Cell(app, server, runtime, ctx)
    try:
        c.srv = measure.start_server(c.spec(), cpu=SERVER_CPU)
        phase("start")
    except Exception as e:  # noqa: BLE001 - any failure to start is a result
        cell.update(status="failed", error=f"did not start: {e}"[:500],
                    log_tail=getattr(e, "log", "")[-600:])
        return cell
    log = ""
    try:
        # gunicorn's master accepts before its worker has imported the app:
        # the first answer may take the worker's whole start.
        c.check(timeout=measure.servers.START_TIMEOUT_S)
        phase("check")
        cell["warmup"] = c.warm_up()
        phase("warmup")
        rate = cell["warmup"]["slices"][-1]["requests_per_s"]
        n = max(c.p["min_run"], int(rate * c.p["run_s"]))
        cell["runs"] = [c.run(n) for _ in range(c.p["runs"])]
        cell["max_rate"] = statistics.median(r["requests_per_s"] for r in cell["runs"])
        phase("runs")
        cell["sweep"] = c.sweep(cell["max_rate"])
        phase("sweep")
        c.check()  # still right after the load
    except Exception as e:  # noqa: BLE001 - a wrong answer or a crash is a result
        cell.update(status="failed", error=f"{type(e).__name__}: {e}"[:500])
    finally:
        _, log = c.srv.stop_and_read_log()
        phase("stop")
    if cell["status"] == "failed" and log:
        cell["log_tail"] = log[-600:]
    runs = cell.get("runs") or []
    errors = sum(r["errors"] for r in runs)
    if cell["status"] == "ok" and errors:
        cell["status"] = "errors"
    cell["summary"] = {k: measure.summarize([r[k] for r in runs], 3) for k in (
        "requests_per_s", "schedstat_per_request_us", "cpu_per_request_us_ticks",
        "app_measured_us", "app_us", "server_us", "server_share", "clock_us",
        "p50_us", "p99_us")}
    cell["summary"]["errors"] = errors
    if cell.get("sweep"):
        cell["knee"] = report.knee(cell["sweep"])
    cell["wall_s"] = round(time.monotonic() - t0, 1)
    return cell


# --- the run -------------------------------------------------------------------------

class Context:
    def __init__(self, args, tmp):
        self.params = args.params
        self.mode = args.mode
        self.hammer = args.hammer
        self.tmp = tmp
        self.requests = {a.key: a.request if self.mode == "close"
                         else measure.keep_alive_request(a.request) for a in args.app_list}
        self.request_files = {}
        for key, data in self.requests.items():
            path = os.path.join(tmp, f"{key}.http")
            with open(path, "wb") as f:
                f.write(data)
            self.request_files[key] = path
        # A snapshot of the anvil package: a rebuild during the run cannot
        # change the servers under test.
        python_dir = os.path.join(tmp, "python")
        shutil.copytree(ROOT / "python" / "anvil", os.path.join(python_dir, "anvil"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        db = os.path.join(tmp, "django.sqlite3")
        # Bytecode goes to the build tree, never into the sources, and is kept
        # between runs: PyPy compiles Django for 20 s otherwise, at every start.
        self.env = {"PYTHONPATH": os.pathsep.join([python_dir, str(HERE)]),
                    "PYTHONPYCACHEPREFIX": os.path.join(args.build_dir, "apps-pycache"),
                    "PYTHONDONTWRITEBYTECODE": "", "ANVIL_BENCH_DB": db}
        make_database(db, self.env)


def make_database(path, env):
    """A fresh SQLite file for the Django app: its migrations and 50 products."""
    full = dict(os.environ)
    full.update(env)
    r = subprocess.run([matrix.RUNTIMES["cpython"], "-m", "djsite.setup_db"], cwd=str(HERE),
                       env=full, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"the Django database set-up failed: {r.stderr[-400:]}")


def plan(args):
    """(app, server, runtime) of every cell; a preset's pypy_servers and
    pypy_apps narrow PyPy's part unless --servers / --apps name them."""
    cells = []
    for runtime in args.runtimes:
        keys, apps = args.servers, args.app_list
        if runtime == "pypy" and not args.servers_given:
            keys = args.params.get("pypy_servers", keys)
        if runtime == "pypy" and not args.apps:
            apps = [a for a in apps if a.key in args.params.get("pypy_apps", [a.key])]
        for key in keys:
            server = matrix.BY_KEY[key]
            if runtime not in server.runtimes:
                continue
            for app in apps:
                cells.append((app, server, runtime))
    return cells


def estimate_s(cells, p):
    total = 0.0
    for app, server, runtime in cells:
        if server.unavailable.get(runtime):
            continue
        rate = EST_RATE[app.key] * (0.5 if server.key not in ("anvil", "uwsgi") else 1.0)
        t = EST_START_S[runtime]
        t += p["first_slice"] / rate + (p["max_slices"] // 2) * max(p["slice_s"],
                                                                     p["min_slice"] / rate)
        t += p["runs"] * max(p["run_s"], p["min_run"] / rate)
        t += p["sweep_runs"] * sum(
            min(max(p["step_s"], p["step_min"] / (f * rate)), p["step_max_s"]) + 0.1
            for f in p["fractions"])
        t += EST_RUN_S * (p["max_slices"] // 2 + p["runs"] + p["sweep_runs"] * len(p["fractions"]))
        total += t
    return total


def committed(out):
    """Whether out is the committed results file (whose figures the README shows)."""
    return out == (RESULTS / "apps.json").resolve()


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="the reduced matrix, under 5 minutes")
    p.add_argument("--apps", help="comma-separated: hello,flask,django,falcon")
    p.add_argument("--servers", help="comma-separated: " + ",".join(matrix.BY_KEY))
    p.add_argument("--runtimes", help="comma-separated: cpython,pypy")
    p.add_argument("--mode", choices=["close", "keepalive"], default="close",
                   help="close (default): a new connection per request, as from a proxy "
                   "without upstream keep-alive; keepalive: connections reused")
    p.add_argument("--runs", type=int, help="counted full-speed runs per cell (default 3)")
    p.add_argument("--sweep-runs", type=int, help="runs of each rate step (default 3)")
    p.add_argument("--build-dir", default=str(ROOT / "build"),
                   help="where bin/hammer is (default build/)")
    p.add_argument("--out", help="results JSON; APPS.md and the charts go beside it (default "
                   "bench/results/apps.json for the full matrix, else "
                   "BUILD/apps-quick/ or BUILD/apps-reduced/); the README section is "
                   "rewritten when it is bench/results/apps.json")
    p.add_argument("--resume", action="store_true",
                   help="keep the cells already in --out (same parameters), measure the rest")
    p.add_argument("--estimate", action="store_true", help="print the plan and its estimated "
                   "duration, run nothing")
    p.add_argument("--report-only", action="store_true",
                   help="rewrite APPS.md, the charts and the README section from --out")
    p.add_argument("--label", default="", help="a note on this run, printed in APPS.md")
    args = p.parse_args(argv)
    args.matrix = "quick" if args.quick else "full"
    args.params = dict(PRESETS[args.matrix])
    for name in ("runs", "sweep_runs"):
        value = getattr(args, name)
        if value is not None:
            if value < 1:
                p.error(f"--{name.replace('_', '-')} must be positive")
            args.params[name] = value
    args.servers_given = bool(args.servers)
    args.servers = args.servers.split(",") if args.servers else args.params["servers"]
    args.runtimes = args.runtimes.split(",") if args.runtimes else args.params["runtimes"]
    app_keys = args.apps.split(",") if args.apps else args.params["apps"]
    bad = ([k for k in args.servers if k not in matrix.BY_KEY]
           + [r for r in args.runtimes if r not in matrix.RUNTIMES]
           + [a for a in app_keys if a not in PRESETS["full"]["apps"]])
    if bad:
        p.error(f"unknown names: {', '.join(bad)}")
    by_key = {a.key: a for a in matrix.apps()}
    args.app_list = [by_key[k] for k in app_keys]
    reduced = (args.servers_given or args.apps or args.runtimes != args.params["runtimes"]
               or args.runs or args.sweep_runs or args.mode != "close")
    if args.matrix == "full" and reduced:
        args.matrix = "reduced"
    args.build_dir = os.path.abspath(args.build_dir)
    args.hammer = os.path.join(args.build_dir, "bin", "hammer")
    if args.out is None:
        # Only the full matrix replaces the committed results.
        args.out = (RESULTS / "apps.json" if args.matrix == "full"
                    else Path(args.build_dir) / f"apps-{args.matrix}" / "apps.json")
    args.out = Path(args.out).resolve()
    return args


def main(argv):
    args = parse_args(argv)
    if args.report_only:
        data = json.loads(args.out.read_text())
        report.write_all(data, args.out.parent, readme=committed(args.out))
        return 0
    cells = plan(args)
    est = estimate_s(cells, args.params)
    print(f"apps: {args.matrix.upper()} matrix, mode {args.mode}: {len(cells)} cells "
          f"({len(args.app_list)} apps x servers x runtimes); estimated about "
          f"{est / 60:.0f} min", flush=True)
    if args.estimate:
        for app, server, runtime in cells:
            why = server.unavailable.get(runtime)
            print(f"  {app.key:7s} {server.key:17s} {runtime:8s}{'  n/a: ' + why if why else ''}")
        return 0
    if not os.access(args.hammer, os.X_OK):
        print(f"apps: {args.hammer} is missing: run `make build` (or pass --build-dir)",
              file=sys.stderr)
        return 1
    parameters = {"mode": args.mode, "connections": CONNECTIONS, "server_cpu": SERVER_CPU,
                  "client_cpu": CLIENT_CPU, **{k: v for k, v in args.params.items()
                                               if k not in ("servers", "apps", "runtimes")}}
    done = {}
    if args.resume and args.out.exists():
        old = json.loads(args.out.read_text())
        if old.get("parameters") != parameters:
            print("apps: --resume: the results in --out were made with other parameters; "
                  "start afresh (or pass the same options)", file=sys.stderr)
            return 2
        done = {(c["app"], c["server"], c["runtime"]): c for c in old["cells"]
                if c["status"] != "failed"}
        print(f"apps: --resume: {len(done)} cells kept from {args.out}")
    data = {"matrix": args.matrix, "label": args.label, "complete": False,
            "machine": dict(measure.machine(), date=datetime.datetime.now().astimezone()
                            .isoformat(timespec="seconds"),
                            git_commit=measure.git_commit(ROOT, short=True, dirty_paths=[
                                "bench/apps", "bench/measure", "python", "server", "parser",
                                "loadgen"]),
                            load_average_at_start=measure.load_average(),
                            hammer=args.hammer),
            "parameters": parameters,
            "apps": {a.key: {"label": a.label, "note": a.note, "status": a.status,
                             "request_bytes": len(a.request)} for a in args.app_list},
            "servers": {s.key: {"label": s.label, "note": s.note, "runtimes": s.runtimes,
                                "unavailable": s.unavailable} for s in matrix.SERVERS},
            "runtimes": args.runtimes, "cells": []}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="anvil-apps-") as tmp:
        ctx = Context(args, tmp)
        for i, (app, server, runtime) in enumerate(cells, 1):
            key = (app.key, server.key, runtime)
            cell = done.get(key)
            if not cell:
                cell = run_cell(app, server, runtime, ctx)
                cell["commit"] = data["machine"]["git_commit"]
            data["cells"].append(cell)
            data["elapsed_s"] = round(time.monotonic() - started, 1)
            data["load_average_at_end"] = measure.load_average()
            measure.write_json(args.out, data)
            print(report.cell_line(cell, i, len(cells), kept=key in done), flush=True)
    data["complete"] = True
    measure.write_json(args.out, data)
    print(f"apps: done in {data['elapsed_s'] / 60:.1f} min; wrote {args.out}")
    report.write_all(data, args.out.parent, readme=committed(args.out))
    print(report.console_text(data))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
