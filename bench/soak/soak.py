#!/usr/bin/python3
"""make soak: anvil under steady load and hostile clients, RSS and fds over time.

One `python3 -m anvil` (master + 1 worker, the app of bench/soak/app.py:
hello, /echo, /big) pinned to core 0. On core 1: hammer first measures the
maximum rate of GET / and of POST /echo (a 4 KiB body) for a few seconds each;
then, for --seconds, two hammers offer 80% of it together (70% of the hello
maximum plus 10% of the echo maximum, --rate, keep-alive), while hostile
clients (bench/soak/hostile.py) start at about 1% of that request rate: resets
in the middle of a request and of a response, slowloris heads, garbage,
oversized heads, bodies cut short. Every second the RSS and the open fds of
the server's process tree (master and workers) are sampled.

Reported: the growth of RSS and fds after the warm-up (median of the first
window after it against the last window; target under 5%), every normal
request lost (hammer's errors by kind: requests = responses + errors), the
hostile clients' outcomes (expected, counted apart), whether the server is
alive with the same workers, and whether its fds come back to the baseline
once the hostile clients have left.

--check (make test, 60 s) fails on what does not depend on timing: a normal
request lost, the server or a worker gone, fds not back to the baseline.
Never on a rate or a latency.

Writes (--out DIR): soak.json (machine, date, commit, load average, the
load offered, every sample), soak.png, SOAK.md.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import measure  # noqa: E402
from hostile import Hostile  # noqa: E402

SERVER_CPU, CLIENT_CPU = 0, 1
HELLO_SHARE, ECHO_SHARE = 0.7, 0.1  # of each one's maximum: 80% of the core in all
HOSTILE_SHARE = 0.01                # hostile clients per normal request
HOSTILE_MAX_RATE = 100.0            # per second; the hostile clients are Python threads
ECHO_BODY_BYTES = 4096
CONNECTIONS = 16                    # per hammer
HAMMER_TIMEOUT = "10s"              # a request unanswered for 10 s is lost
SERVER_TIMEOUT_S = 5                # --timeout: slowloris heads end after it
SUSTAINED = 0.97                    # of the offered rate: below it the server fell behind
PAGE = os.sysconf("SC_PAGE_SIZE")


# --- the server's process tree ------------------------------------------------------

def tree(pid):
    return [pid] + measure.descendants(pid)


def rss_bytes(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass  # exited between the listing and the read
    return total


def open_fds(pids):
    total = 0
    for p in pids:
        try:
            total += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            pass
    return total


class Sampler(threading.Thread):
    """RSS and open fds of the server's tree once a second, tagged with the phase."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.t0 = time.monotonic()
        self.phase = "start"
        self.samples = []
        self.stop_event = threading.Event()

    def sample(self):
        pids = tree(self.pid)
        return {"t": round(time.monotonic() - self.t0, 2), "phase": self.phase,
                "rss": rss_bytes(pids), "fds": open_fds(pids), "processes": len(pids)}

    def run(self):
        while not self.stop_event.is_set():
            self.samples.append(self.sample())
            self.stop_event.wait(1.0)

    def stop(self):
        self.stop_event.set()
        self.join(timeout=5)


# --- clients --------------------------------------------------------------------------

def hammer_argv(hammer, url, seconds, rate=None, body=None):
    argv = [hammer, "-t", "1", "-c", str(CONNECTIONS), "--cpus", str(CLIENT_CPU), "-d", f"{seconds}s",
            "--timeout", HAMMER_TIMEOUT, "--no-progress"]
    if rate:
        argv += ["--rate", str(int(rate))]
    if body:
        argv += ["-X", "POST", "--body", body]
    return argv + [url]


def run_hammers(runs, timeout_s):
    """Runs the hammers ([(name, argv)]) at once; returns {name: hammer's JSON}."""
    procs = {}
    with tempfile.TemporaryDirectory(prefix="anvil-soak-") as tmp:
        for name, argv in runs:
            path = os.path.join(tmp, f"{name}.json")
            procs[name] = (subprocess.Popen(argv + ["--json", path], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE), path)
        results = {}
        for name, (proc, path) in procs.items():
            try:
                _, err = proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            try:
                with open(path) as f:
                    results[name] = json.load(f)
            except (OSError, ValueError):
                raise RuntimeError(f"hammer {name} failed ({proc.returncode}): {err.decode()[-500:]}")
    return results


def hammer_summary(r):
    lat = r.get("latency") or {}
    return {"requests": r["requests"], "responses": r["responses"], "errors": r["errors"],
            "error_total": r["error_total"], "requests_per_s": r["requests_per_s"],
            "offered_rate": r["config"]["rate"],
            "p50_us": (lat.get("percentiles_us") or {}).get("50"),
            "p99_us": (lat.get("percentiles_us") or {}).get("99")}


# --- figures --------------------------------------------------------------------------

def growth(samples, key, start, end):
    """Median of the first window after `start` against the last before `end`, in %."""
    window = max(5.0, 0.1 * (end - start))
    first = [s[key] for s in samples if start <= s["t"] < start + window]
    last = [s[key] for s in samples if end - window <= s["t"] < end]
    if not first or not last:
        return None
    a, b = statistics.median(first), statistics.median(last)
    return {"first": a, "last": b, "window_s": window, "percent": round(100.0 * (b - a) / a, 2) if a else None}


def wait_for_fds(pid, baseline, limit_s):
    """Polls until the tree's fds are back to the baseline; returns (fds, seconds)."""
    t0 = time.monotonic()
    fds = open_fds(tree(pid))
    while fds > baseline and time.monotonic() - t0 < limit_s:
        time.sleep(0.2)  # polling /proc, bounded by limit_s
        fds = open_fds(tree(pid))
    return fds, round(time.monotonic() - t0, 2)


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def settled_fds(pid, limit_s):
    """The tree's fds once unchanged for a second (the last clients' sockets closed)."""
    t0 = time.monotonic()
    fds, since = open_fds(tree(pid)), time.monotonic()
    while time.monotonic() - since < 1.0 and time.monotonic() - t0 < limit_s:
        time.sleep(0.1)  # polling /proc, bounded by limit_s
        now = open_fds(tree(pid))
        if now != fds:
            fds, since = now, time.monotonic()
    return fds


def plot(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    t = [s["t"] for s in samples]
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    ax1.plot(t, [s["rss"] / 2**20 for s in samples], color="tab:blue")
    ax1.set_ylabel("RSS, MiB (master + workers)")
    ax2.plot(t, [s["fds"] for s in samples], color="tab:orange")
    ax2.set_ylabel("open fds (master + workers)")
    ax2.set_xlabel("seconds")
    marks = result["marks"]
    for ax in (ax1, ax2):
        ax.axvspan(marks["load_start"], marks["warmup_end"], color="0.9", label="warm-up")
        ax.axvline(marks["load_start"], color="0.5", linestyle="--", linewidth=0.8)
        ax.axvline(marks["load_end"], color="0.5", linestyle="--", linewidth=0.8)
        ax.grid(alpha=0.3)
    ax1.legend(loc="lower right")
    load = result["load"]
    fig.suptitle(f"anvil soak: {load['offered_rate']:.0f} req/s offered (80% of max) + "
                 f"{load['hostile_rate']:.0f} hostile clients/s, {result['seconds']} s; commit "
                 f"{short_commit(result['commit'])}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def short_commit(commit):
    return commit[:10] + (" with local changes" if commit.endswith("+local changes") else "")


def markdown(result):
    m, load, g = result["machine"], result["load"], result["growth"]
    start, end = (", ".join(f"{x:.1f}" for x in result[k]) for k in ("loadavg_start", "loadavg_end"))
    lines = [
        "# Soak test (`make soak`)", "",
        f"{m['cpu_model']}, {m['cores']} cores, Linux {m['kernel']}; commit "
        f"`{short_commit(result['commit'])}`, {result['date']} to {result['finished']}; load average "
        f"{start} at start, {end} at the end. "
        f"Server `python3 -m anvil --workers 1 --timeout {SERVER_TIMEOUT_S}` (bench/soak/app.py) pinned "
        f"to core {SERVER_CPU}; clients on core {CLIENT_CPU}.", "",
        f"Load for {result['seconds']} s: maximum measured {load['max_hello']:.0f} req/s (GET /) and "
        f"{load['max_echo']:.0f} req/s (POST /echo, {ECHO_BODY_BYTES} B); offered "
        f"{load['hello_rate']:.0f} + {load['echo_rate']:.0f} req/s (70% + 10% of those), "
        f"{CONNECTIONS} keep-alive connections each; hostile clients started at {load['hostile_rate']:.0f}/s "
        f"({result['hostile']['started']} started, {result['hostile']['skipped']} skipped as "
        "too many were still running).", "",
    ]
    behind = [f"{name} {h['requests_per_s']:.0f} of {h['offered_rate']:.0f} req/s"
              for name, h in result["hammer"].items()
              if h["offered_rate"] and h["requests_per_s"] < SUSTAINED * h["offered_rate"]]
    if behind:
        lines += [f"The server did not keep up with the offered rate ({', '.join(behind)}): on a "
                  "shared machine the maximum measured before the load was more than the core "
                  "gave it during the load, so latency (from each request's intended send time, "
                  "hammer --rate) grew through the run. Nothing checked depends on it.", ""]
    lines += [
        "![RSS and open fds over time](soak.png)", "",
        "| figure | value | target |", "|---|--:|---|",
    ]
    for key, label in (("rss", "RSS growth after warm-up"), ("fds", "fd growth after warm-up")):
        v = g.get(key)
        if v:
            met = "met" if v["percent"] is not None and v["percent"] < 5 else "NOT met"
            first = v["first"] / 2**20 if key == "rss" else v["first"]
            last = v["last"] / 2**20 if key == "rss" else v["last"]
            unit = " MiB" if key == "rss" else ""
            lines.append(f"| {label} ({first:.1f}{unit} to {last:.1f}{unit}) | {v['percent']:+.2f}% "
                         f"| under 5%: {met} |")
    lost = sum(h["error_total"] for h in result["hammer"].values())
    lines.append(f"| normal requests lost | {lost} of "
                 f"{sum(h['requests'] for h in result['hammer'].values())} | 0 |")
    lines.append(f"| server alive, same workers | {'yes' if result['checks']['alive'] else 'NO'} | yes |")
    fd = result["checks"]["fds_after"]
    lines.append(f"| fds after the hostile clients left | {fd['fds']} (baseline {fd['baseline']}, "
                 f"after {fd['seconds']} s) | back to baseline |")
    lines += ["", "Normal clients (hammer), errors by kind:", "",
              "| client | requests | responses | errors | req/s | p50 µs | p99 µs |",
              "|---|--:|--:|---|--:|--:|--:|"]
    for name, h in result["hammer"].items():
        errs = ", ".join(f"{k} {v}" for k, v in h["errors"].items() if v) or "none"
        lines.append(f"| {name} | {h['requests']} | {h['responses']} | {errs} | {h['requests_per_s']:.0f} "
                     f"| {h['p50_us'] or 0:.0f} | {h['p99_us'] or 0:.0f} |")
    lines += ["", "Hostile clients (expected failures), outcomes by kind:", "",
              "| kind | outcomes |", "|---|---|"]
    for kind, outcomes in result["hostile"]["outcomes"].items():
        lines.append(f"| {kind} | {', '.join(f'{k}: {v}' for k, v in outcomes.items()) or 'none'} |")
    lines += ["", "Rerun: `make soak` (`SOAK_SECONDS=N`; default 600), or "
              "`/usr/bin/python3 bench/soak/soak.py --seconds N --out DIR`.", ""]
    return "\n".join(lines)


# --- the run --------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=int, default=600, help="load duration (default 600)")
    p.add_argument("--probe-seconds", type=int, default=3, help="each maximum-rate measurement")
    p.add_argument("--build", default=os.path.join(ROOT, "build"), help="build dir (bin/hammer)")
    p.add_argument("--python", default="/usr/bin/python3", help="the server's interpreter")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results"),
                   help="where soak.json, soak.png and SOAK.md go")
    p.add_argument("--no-plot", action="store_true", help="write no soak.png (no matplotlib needed)")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when a normal request was lost, the server or a worker died, "
                        "or the fds did not come back to the baseline")
    p.add_argument("--from-json", metavar="PATH",
                   help="run nothing: write soak.png and SOAK.md into --out from a soak.json")
    args = p.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            result = json.load(f)
        os.makedirs(args.out, exist_ok=True)
        write_report(result, args.out, not args.no_plot)
        return 0
    hammer = os.path.join(args.build, "bin", "hammer")
    if not os.access(hammer, os.X_OK):
        sys.stderr.write(f"soak: {hammer} is not built (make build)\n")
        return 2
    os.makedirs(args.out, exist_ok=True)
    machine = measure.machine()
    loadavg_start = measure.load_average()
    started = now_iso()

    spec = measure.ServerSpec(
        "anvil-soak", [args.python, "-m", "anvil", "--bind", "127.0.0.1:0", "--workers", "1",
                       "--timeout", str(SERVER_TIMEOUT_S), "app:app"],
        ready="line", env={"PYTHONPATH": os.pathsep.join([os.path.join(ROOT, "python"), HERE])},
        cwd=HERE)
    server = measure.start_server(spec, cpu=SERVER_CPU)
    sampler = None
    try:
        url = f"http://{server.host}:{server.port}/"
        measure.verify(server.host, server.port, b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n")
        workers = sorted(measure.descendants(server.pid))
        sampler = Sampler(server.pid)
        sampler.start()
        with tempfile.NamedTemporaryFile(prefix="anvil-soak-body-", delete=False) as f:
            f.write(b"e" * ECHO_BODY_BYTES)
            body = f.name

        # The maximum rate of each request, one after the other.
        sampler.phase = "probe"
        probe = run_hammers([("hello", hammer_argv(hammer, url, args.probe_seconds))], 60)
        probe.update(run_hammers([("echo", hammer_argv(hammer, url + "echo", args.probe_seconds,
                                                       body=body))], 60))
        max_hello, max_echo = probe["hello"]["requests_per_s"], probe["echo"]["requests_per_s"]
        # The baseline: the probes' connections are closed and the worker is warm.
        sampler.phase = "baseline"
        baseline_fds = settled_fds(server.pid, 10.0)

        hello_rate, echo_rate = HELLO_SHARE * max_hello, ECHO_SHARE * max_echo
        hostile_rate = min(HOSTILE_MAX_RATE, max(1.0, HOSTILE_SHARE * (hello_rate + echo_rate)))
        hostile = Hostile(server.host, server.port, hostile_rate,
                          slowloris_limit_s=SERVER_TIMEOUT_S + 5)
        sampler.phase = "load"
        load_start = time.monotonic() - sampler.t0
        hostile_thread = threading.Thread(target=hostile.run, args=(args.seconds,), daemon=True)
        os.sched_setaffinity(0, {CLIENT_CPU})  # the hostile clients' threads, on the client core
        hostile_thread.start()
        runs = run_hammers([
            ("hello", hammer_argv(hammer, url, args.seconds, rate=hello_rate)),
            ("echo", hammer_argv(hammer, url + "echo", args.seconds, rate=echo_rate, body=body)),
        ], args.seconds + 120)
        load_end = time.monotonic() - sampler.t0
        sampler.phase = "after"
        hostile_thread.join(timeout=SERVER_TIMEOUT_S + 30)
        os.unlink(body)

        # After the load: the same server and workers, answering; fds back to the baseline.
        alive = server.proc.poll() is None and sorted(measure.descendants(server.pid)) == workers
        answering = True
        try:
            measure.verify(server.host, server.port, b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n")
        except (AssertionError, OSError):
            answering = False
        fds_after, fds_wait = wait_for_fds(server.pid, baseline_fds, SERVER_TIMEOUT_S + 15)
        time.sleep(1.0)  # one more sample after the load
    finally:
        if sampler is not None:
            sampler.stop()
        server.stop()

    warmup = min(60.0, max(10.0, 0.2 * args.seconds))
    samples = sampler.samples
    result = {
        "benchmark": "soak", "date": started, "finished": now_iso(),
        "commit": measure.git_commit(ROOT, dirty_paths=["parser", "server", "python", "bench/soak"]),
        "machine": machine, "loadavg_start": loadavg_start, "loadavg_end": measure.load_average(),
        "seconds": args.seconds, "warmup_s": warmup,
        "server": {"argv": spec.argv, "cpu": SERVER_CPU, "workers": len(workers)},
        "load": {"max_hello": max_hello, "max_echo": max_echo, "hello_rate": hello_rate,
                 "echo_rate": echo_rate, "offered_rate": hello_rate + echo_rate,
                 "hostile_rate": hostile_rate, "connections": CONNECTIONS, "client_cpu": CLIENT_CPU,
                 "echo_body_bytes": ECHO_BODY_BYTES, "hammer_timeout": HAMMER_TIMEOUT},
        "probe": {k: hammer_summary(v) for k, v in probe.items()},
        "hammer": {k: hammer_summary(v) for k, v in runs.items()},
        "hostile": hostile.summary(),
        "marks": {"load_start": load_start, "warmup_end": load_start + warmup, "load_end": load_end},
        "growth": {k: growth(samples, k, load_start + warmup, load_end) for k in ("rss", "fds")},
        "checks": {"alive": alive and answering,
                   "fds_after": {"fds": fds_after, "baseline": baseline_fds, "seconds": fds_wait}},
        "samples": samples,
    }
    with open(os.path.join(args.out, "soak.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    write_report(result, args.out, not args.no_plot)
    failures = failures_of(result)
    for f in failures:
        sys.stderr.write(f"soak: FAILED: {f}\n")
    return 1 if failures and args.check else 0


def write_report(result, out, with_plot):
    if with_plot:
        plot(result, os.path.join(out, "soak.png"))
    text = markdown(result)
    with open(os.path.join(out, "SOAK.md"), "w") as f:
        f.write(text)
    print(text)


def failures_of(result):
    """What --check fails on: nothing here depends on a rate or a latency."""
    failures = []
    for name, h in result["hammer"].items():
        if h["error_total"] or h["requests"] != h["responses"] or h["requests"] == 0:
            failures.append(f"{name}: {h['error_total']} of {h['requests']} requests lost {h['errors']}")
    if not result["checks"]["alive"]:
        failures.append("the server or its worker is gone, or it does not answer")
    fd = result["checks"]["fds_after"]
    if fd["fds"] > fd["baseline"]:
        failures.append(f"fds did not come back: {fd['fds']} against a baseline of {fd['baseline']}")
    return failures


if __name__ == "__main__":
    sys.exit(main())
