#!/usr/bin/python3
"""make parsers: the parser shoot-out. Every parser that the surveyed servers
use, in one harness, for speed (ns per request on bench/requests/*.http) and
strictness (the corpus of tests/parser/cases/), on CPython 3.11 and PyPy 3.9.

    bench/parsers/run.py [--quick] [--build-dir DIR] [--parsers NAME,...]
                         [--runtimes cpython,pypy] [--cpu N] [--out DIR] [--report-only]

Each Python parser runs in a fresh interpreter per runtime (worker.py),
pinned with taskset to one CPU; the C parsers run in parsers_c (built by
`make build` into BUILD/bin), pinned the same way, before them. The results
go to bench/results/parsers.json, PARSERS.md and the charts, and the README's
shoot-out section is rewritten; --quick (a reduced run, under 3 minutes)
writes into build/parsers-quick/ instead and leaves bench/results alone.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # bench/: the measurement library

import drivers  # noqa: E402
import writeup  # noqa: E402
from measure import servers, stats  # noqa: E402

RUNTIMES = {"cpython": "/usr/bin/python3", "pypy": "/usr/bin/pypy3"}
REQUESTS = os.path.join(ROOT, "bench", "requests")
CASES = os.path.join(ROOT, "tests", "parser", "cases")
# parsers_c: runs x seconds per run, full and quick.
C_TIMING = {"full": (5, 0.2), "quick": (5, 0.02)}
# What the figures depend on: a change there marks the commit "+local changes".
MEASURED_PATHS = ("bench/parsers/c_parsers.cpp", "bench/parsers/drivers.py",
                  "bench/parsers/worker.py", "bench/parsers/corpus.py", "bench/requests",
                  "python", "parser", "tests/parser/cases")
# A quick run times the Python parsers on these only (the survey's two).
QUICK_WORKLOADS = ("chrome-2013", "ab")
NOT_AVAILABLE = {
    "picohttpparser": "no Debian package and no npm package (h2o's parser is vendored in "
                      "h2o's sources only); nothing is downloaded at build time",
    "uWSGI's parser": "compiled into the uwsgi binary (C), with no library or Python API to "
                      "drive it",
    "nginx's and Apache's parsers": "compiled into the servers, with no library API",
}


def machine(cpu):
    m = stats.machine()
    m.pop("python", None)  # each result records its own interpreter
    m.update(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             git_commit=stats.git_commit(ROOT, short=True, dirty_paths=MEASURED_PATHS),
             pinned_cpu=cpu, load_average_at_start=stats.load_average())
    return m


def package_version(package):
    """The installed Debian version of a package, or ''."""
    if not package or " " in package:
        return ""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                             capture_output=True, text=True, timeout=30)
    except OSError:
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def pinned(argv, cpu):
    """argv pinned to cpu (bench/measure's way), or as it is with cpu None."""
    return argv if cpu is None else servers.pinned(cpu, argv)


def run_c(build_dir, quick, cpu, tmp):
    """parsers_c's JSON, or {"unavailable": reason}."""
    exe = os.path.join(build_dir, "bin", "parsers_c")
    if not os.access(exe, os.X_OK):
        return {"unavailable": f"{exe} is not built (make build)"}
    runs, min_time = C_TIMING["quick" if quick else "full"]
    out = os.path.join(tmp, "parsers_c.json")
    argv = pinned([exe, "--requests", REQUESTS, "--cases", CASES, "--runs", str(runs),
                   "--min-time", str(min_time), "--json", out], cpu)
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"unavailable": f"parsers_c failed: {proc.stderr.strip()[:300]}"}
    with open(out) as f:
        return json.load(f)


def run_worker(name, runtime, quick, cpu, tmp, extra):
    """One worker.py process: its JSON, or {"failed": the last line of stderr}."""
    out = os.path.join(tmp, "worker.json")
    argv = pinned([RUNTIMES[runtime], os.path.join(HERE, "worker.py"), "--parser", name,
                   "--requests", REQUESTS, "--cases", CASES, "--json", out]
                  + (["--quick"] if quick else []) + extra, cpu)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"), PYTHONDONTWRITEBYTECODE="1")
    if os.path.exists(out):
        os.unlink(out)
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not os.path.exists(out):
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"failed": tail[:300]}
    with open(out) as f:
        return json.load(f)


def run_python(name, runtime, workloads, quick, cpu, tmp):
    """A parser on a runtime: the verdicts in one process, then each workload in
    a fresh one. A quick run does it all in one process per parser and runtime
    (interpreter start-ups are most of its time), and takes the verdicts on
    CPython only (the same Python code; the full run checks that PyPy agrees)."""
    start = time.monotonic()
    if quick:
        extra = ["--workloads", ",".join(workloads)]
        result = run_worker(name, runtime, quick, cpu, tmp,
                             extra + (["--no-verdicts"] if runtime == "pypy" else []))
    else:
        result = run_worker(name, runtime, quick, cpu, tmp, ["--no-speed"])
        if "failed" not in result and "unavailable" not in result:
            result["speed"] = {}
            for w in workloads:
                one = run_worker(name, runtime, quick, cpu, tmp,
                                  ["--no-verdicts", "--workloads", w])
                if "failed" in one:
                    result["speed"][w] = {"error": "worker.py failed: " + one["failed"]}
                else:
                    result["speed"].update(one.get("speed", {}))
    result.update(parser=name, runtime=runtime, wall_s=round(time.monotonic() - start, 1))
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="short runs and warm-ups, into build/parsers-quick/ (under 3 minutes)")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--parsers", help="only these Python parsers (names as in the tables)")
    ap.add_argument("--runtimes", default="cpython,pypy")
    ap.add_argument("--cpu", type=int, default=1, help="the CPU to pin to (default 1)")
    ap.add_argument("--out", help="where the results go (default bench/results, or "
                                  "build/parsers-quick with --quick)")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite PARSERS.md, the charts and the README from parsers.json")
    args = ap.parse_args()

    quick = args.quick
    out_dir = args.out or (os.path.join(ROOT, "build", "parsers-quick") if quick
                           else os.path.join(ROOT, "bench", "results"))
    readme = None if quick or args.out else os.path.join(ROOT, "README.md")
    json_path = os.path.join(out_dir, "parsers.json")
    if args.report_only:
        with open(json_path) as f:
            writeup.write(json.load(f), out_dir, readme)
        return

    all_drivers = drivers.drivers()
    names = [d.name for d in all_drivers]
    if args.parsers:
        wanted = [n.strip() for n in args.parsers.split(",")]
        unknown = [n for n in wanted if n not in names]
        if unknown:
            sys.exit(f"run.py: unknown parser(s) {', '.join(unknown)}; known: {', '.join(names)}")
        names = wanted
    runtimes = [r for r in args.runtimes.split(",") if r]
    if any(r not in RUNTIMES for r in runtimes):
        sys.exit(f"run.py: runtimes are {', '.join(RUNTIMES)}")

    workloads = sorted(n[:-5] for n in os.listdir(REQUESTS) if n.endswith(".http"))
    if quick:
        workloads = [w for w in workloads if w in QUICK_WORKLOADS]
    started = time.monotonic()
    doc = {"quick": quick, "machine": machine(args.cpu), "not_available": NOT_AVAILABLE,
           "drivers": [{"name": d.name, "label": d.label, "package": d.package,
                        "version": package_version(d.package), "servers": list(d.servers),
                        "how": d.how, "one_per_connection": d.one_per_connection}
                       for d in all_drivers if d.name in names],
           "python": [], "c": None}
    with tempfile.TemporaryDirectory(prefix="anvil-parsers-") as tmp:
        print(f"parsers: C parsers (parsers_c), pinned to CPU {args.cpu}", flush=True)
        doc["c"] = run_c(args.build_dir, quick, args.cpu, tmp)
        for runtime in runtimes:
            for name in names:
                result = run_python(name, runtime, workloads, quick, args.cpu, tmp)
                state = result.get("failed") or result.get("unavailable") or \
                    f"{result.get('wall_s')} s"
                print(f"parsers: {name} on {runtime}: {state}", flush=True)
                doc["python"].append(result)
    doc["machine"]["load_average_at_end"] = stats.load_average()
    doc["elapsed_s"] = round(time.monotonic() - started, 1)
    os.makedirs(out_dir, exist_ok=True)
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=1)
    writeup.write(doc, out_dir, readme)
    print(writeup.console(doc))
    print(f"parsers: {json_path}, PARSERS.md and charts in {out_dir} ({doc['elapsed_s']} s)")


if __name__ == "__main__":
    main()
