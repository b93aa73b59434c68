#!/usr/bin/python3
"""Two copies of the anvil package side by side: server CPU per request.

For a change that must not make anvil slower (a refactoring of python/src):
copy the package of the baseline (a checkout's python/, with its built
_core .so files) somewhere, build the change, and run

    bench/server/compare_builds.py --before /tmp/main-python --after python

Each cell (interpreter and WSGI path) serves bench/apps/hello.py with the
`before` and then the `after` package, interleaved in every repetition, so
that both see the same machine load. Server on core 0, hammer on core 1, 40
keep-alive connections, the chrome-2013 request; each server is warmed up by
the one warm-up rule (bench/measure/warmup.py) before its counted run. Prints
schedstat µs per request, median [min-max] per side, and after/before of the
medians, "within noise" when the two sides' ranges overlap.
"""

import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
APPS = os.path.join(ROOT, "bench", "apps")
sys.path.insert(0, os.path.join(ROOT, "bench"))
from measure import clients, core, servers, stats, warmup  # noqa: E402

REQUEST = os.path.join(ROOT, "bench", "requests", "chrome-2013.http")
# name: (interpreter, ANVIL_WSGI_PATH, counted requests, warm-up slice)
CELLS = {
    "cpython-capi": ("/usr/bin/python3", "capi", 3000, 1000),
    "cpython-python": ("/usr/bin/python3", "python", 3000, 1000),
    "pypy-python": ("/usr/bin/pypy3", "python", 10000, 5000),
    "pypy-capi": ("/usr/bin/pypy3", "capi", 10000, 5000),
    "cpython-cffi": ("/usr/bin/python3", "cffi", 3000, 1000),
    "pypy-cffi": ("/usr/bin/pypy3", "cffi", 10000, 5000),
}


def measure_once(package, python, path, requests, slice_requests, hammer):
    spec = servers.anvil(python, "hello:app", name="compare",
                         env={"PYTHONPATH": os.pathsep.join([package, APPS]),
                              "ANVIL_WSGI_PATH": path})
    server = servers.start_server(spec, cpu=0)
    try:
        warmup.warm_up(lambda: core.counted_run(server, hammer, REQUEST, False, slice_requests)
                       ["schedstat_per_request_us"], max_slices=8)
        run = core.counted_run(server, hammer, REQUEST, False, requests)
    finally:
        server.stop()
    if run["errors"]:
        raise RuntimeError(f"{run['errors']} failed requests")
    return run["schedstat_per_request_us"]


def summary(runs):
    return f"{statistics.median(runs):7.2f} [{min(runs):.2f}-{max(runs):.2f}]"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="the baseline's package folder (holds anvil/)")
    p.add_argument("--after", required=True, help="the change's package folder")
    p.add_argument("--cells", default="cpython-capi,pypy-python",
                   help=f"comma-separated, of {', '.join(CELLS)} (default: %(default)s)")
    p.add_argument("--reps", type=int, default=3, help="repetitions (default: %(default)s)")
    p.add_argument("--requests", type=int, help="counted requests per run (default: per cell)")
    p.add_argument("--hammer", default=os.path.join(ROOT, "build", "bin", "hammer"))
    args = p.parse_args()
    cells = args.cells.split(",")
    for name in cells:
        if name not in CELLS:
            p.error(f"unknown cell {name!r}")
    for folder in (args.before, args.after):
        if not os.path.isdir(os.path.join(folder, "anvil")):
            p.error(f"{folder}: no anvil/ package there")
    if args.reps < 1 or (args.requests is not None and args.requests < 100):
        p.error("--reps must be at least 1 and --requests at least 100")
    hammer = clients.Hammer(args.hammer)
    print(f"load average at the start: {stats.load_average()}", flush=True)
    runs = {}
    for rep in range(args.reps):
        for name in cells:
            python, path, requests, slice_requests = CELLS[name]
            requests = args.requests or requests
            slice_requests = min(slice_requests, requests)
            for side, package in (("before", args.before), ("after", args.after)):
                us = measure_once(package, python, path, requests, slice_requests, hammer)
                runs.setdefault((name, side), []).append(us)
                print(f"rep {rep} {name:14} {side:6} {us:7.2f} µs/request", flush=True)
    print(f"load average at the end: {stats.load_average()}")
    for name in cells:
        before, after = runs[(name, "before")], runs[(name, "after")]
        ratio = statistics.median(after) / statistics.median(before)
        noise = " (within noise)" if min(after) <= max(before) and min(before) <= max(after) else ""
        print(f"{name:14} before {summary(before)}  after {summary(after)}  "
              f"after/before {ratio:.3f}{noise}")


if __name__ == "__main__":
    main()
