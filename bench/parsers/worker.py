"""One parser on one runtime: its ns per request on request files, and its
outcome on every corpus case; writes one JSON object. bench/parsers/run.py
runs it in a fresh process for each parser, runtime and request file (a JIT
trace specialised to one request's shape is not carried into the next), and
once more for the verdicts.

    python worker.py --parser NAME --requests DIR --cases DIR --json FILE
                     [--workloads NAME,...] [--quick] [--no-speed] [--no-verdicts]

Timing (the report states it): CPU time of this thread (time.thread_time_ns),
over batches of calls to the driver's one(); a batch is calibrated to about
RUN_S seconds, and again after every warm-up batch (a JIT makes the calls
faster). Warm-up: bench/measure's one rule (batches until the last two agree
within 5%, at least two), up to WARMUP_CAP_S seconds' worth of batches (then
it is recorded as not settled). Then RUNS batches, each one run; the figure
is their median with min and max.
"""

import argparse
import json
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # bench/: the measurement library

import corpus  # noqa: E402
import drivers  # noqa: E402
from measure import stats, warmup  # noqa: E402

RUNS = 5
HANG_CPU_S = 1.0
# (run seconds, warm-up cap seconds on CPython, on PyPy, hang limit seconds)
# for full and quick runs.
SETTINGS = {"full": (0.2, 2.0, 10.0, HANG_CPU_S), "quick": (0.02, 0.3, 1.0, 0.3)}


def _batch(fn, data, n):
    clock = time.thread_time_ns
    start = clock()
    for _ in range(n):
        fn(data)
    return (clock() - start) / n


def _count_for(ns_per_call, run_s):
    return max(1, int(run_s * 1e9 / max(ns_per_call, 1.0)))


def measure(fn, data, run_s, cap_s):
    """ns per call: {runs_ns, median_ns, min_ns, max_ns, iterations, warmup}."""
    # Calibrate: double until a batch takes a quarter of a run.
    n = 1
    ns = _batch(fn, data, n)
    while ns * n < run_s * 0.25e9:
        n *= 2
        ns = _batch(fn, data, n)
    state = {"n": _count_for(ns, run_s), "cpu_s": 0.0}

    def run_slice():  # one warm-up batch, in µs per call (the rule's unit)
        ns = _batch(fn, data, state["n"])
        state["cpu_s"] += ns * state["n"] / 1e9
        state["n"] = _count_for(ns, run_s)
        return ns / 1000

    warm = warmup.warm_up(run_slice, max_slices=max(2, round(cap_s / run_s)))
    runs = [_batch(fn, data, state["n"]) for _ in range(RUNS)]
    figures = stats.summarize(runs, digits=1)
    return {
        "runs_ns": [round(x, 1) for x in runs],
        "median_ns": figures["median"], "min_ns": figures["min"], "max_ns": figures["max"],
        "iterations": state["n"],
        "warmup": {"batches": len(warm["slices"]), "cpu_s": round(state["cpu_s"], 3),
                   "stable": warm["settled"],
                   "last_ns": [round(x["cpu_us"] * 1000, 1) for x in warm["slices"][-2:]]},
    }


def reference(data):
    """anvil's framing of a request file (pure-Python parser, both runtimes)."""
    from anvil.pyparser import RequestParser
    messages = RequestParser().feed_messages(data)
    head, body, _ = messages[0]
    return head[0], head[1], bytes(body)


def speed(driver, requests_dir, run_s, cap_s, only=None):
    """Each request file (only: those, in that order) timed with driver.one."""
    out = {}
    names = sorted(n[:-5] for n in os.listdir(requests_dir) if n.endswith(".http"))
    for name in only or names:
        with open(os.path.join(requests_dir, name + ".http"), "rb") as f:
            data = f.read()
        cell = out[name] = {"bytes": len(data)}
        try:
            got = driver.one(data)
        except Exception as e:  # the parser does not take this request
            cell["error"] = drivers._reason(e)
            continue
        body = reference(data)[2]
        if bytes(got) != body:
            cell["note"] = f"body {len(got)} bytes where anvil decodes {len(body)}"
        cell.update(measure(driver.one, data, run_s, cap_s))
    return out


class _Hang(BaseException):
    """Raised by the CPU-time alarm; a BaseException, so that the drivers'
    and the servers' own `except Exception` do not swallow it."""


def _on_alarm(signum, frame):
    raise _Hang()


def verdicts_of(driver, cases, hang_cpu_s=HANG_CPU_S):
    """Each request case's outcome. A case that takes more than hang_cpu_s of
    CPU is stopped and recorded as "hang" (a loop that a real connection at
    the end of its input would spin in until the server's own timeout)."""
    out = {}
    previous = signal.signal(signal.SIGVTALRM, _on_alarm)
    try:
        for case in cases:
            if case.mode != "request":
                continue
            try:
                signal.setitimer(signal.ITIMER_VIRTUAL, hang_cpu_s)
                try:
                    outcome = driver.run(case.input)
                finally:
                    signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            except _Hang:
                outcome = drivers.Outcome([], "hang", f"still running after {hang_cpu_s} s of CPU")
            except Exception as e:  # a driver bug, not a verdict: shown as such
                outcome = drivers.Outcome([], "driver-error", drivers._reason(e))
            out[case.name] = outcome.to_json()
    finally:
        signal.signal(signal.SIGVTALRM, previous)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parser", required=True)
    ap.add_argument("--requests", required=True)
    ap.add_argument("--cases", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workloads", help="only these request files (names without .http)")
    ap.add_argument("--no-speed", action="store_true", help="verdicts only")
    ap.add_argument("--no-verdicts", action="store_true", help="timings only")
    args = ap.parse_args()

    by_name = {d.name: d for d in drivers.drivers()}
    if args.parser not in by_name:
        sys.exit(f"worker.py: unknown parser {args.parser} (known: {', '.join(by_name)})")
    driver = by_name[args.parser]
    runtime = drivers.runtime()
    run_s, cap_cpython, cap_pypy, hang_s = SETTINGS["quick" if args.quick else "full"]
    cap_s = cap_pypy if runtime == "pypy" else cap_cpython
    result = {"parser": driver.name, "runtime": runtime,
              "python": sys.version.split()[0], "implementation": sys.implementation.name}
    try:
        driver.setup()
    except ImportError as e:
        result["unavailable"] = f"ImportError: {e}"
    else:
        result["timing"] = {"clock": "time.thread_time_ns", "runs": RUNS, "run_s": run_s,
                            "warmup_cap_s": cap_s, "stable_spread": warmup.DEFAULT_TOLERANCE,
                            "warmup_rule": "measure.warmup",
                            "hang_cpu_s": hang_s}
        if not args.no_speed:
            only = args.workloads.split(",") if args.workloads else None
            result["speed"] = speed(driver, args.requests, run_s, cap_s, only)
        if not args.no_verdicts:
            result["verdicts"] = verdicts_of(driver, corpus.load(args.cases), hang_s)
    with open(args.json, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
