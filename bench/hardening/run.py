#!/usr/bin/python3
"""make bench: anvil under attack (issue 8 §2, §4, §5).

Three benchmarks, each against `python3 -m anvil` serving the hello app (one
worker, pinned to core 0; the attackers and the normal client on core 1):

  body-flood   32 clients each declare a 1 GB body and push bytes as fast as
               the server takes them, for --seconds, while a normal client
               makes requests (hammer, --rate 50, coordinated-omission
               corrected). Reported: the worker's peak RSS (VmRSS sampled
               from /proc every 20 ms, and VmHWM), the normal client's p99
               and failures, how the pushers were answered, and the disk the
               spool files took. Run with --max-body-size 2G (the body is
               accepted and spooled; --max-spool-size caps the disk at
               1 GiB per worker, past which a pusher gets 503 and starts
               over) and with the default (100 MiB: 413 at once).
  idle-memory  N keep-alive connections that made one request and went idle:
               (RSS with them - RSS before) / N, in bytes, once they have
               parked; and the same for N heads in progress.
  slowloris    5,000 clients that each send one header byte every 0.5 s,
               while a normal client makes requests (p99, failures); with the
               default --max-connections, and with a limit below 5,000
               (shedding).
  drain        --runs times for each shape, 2 workers with 16 keep-alive
               connections and 8 workers with 128: hammer for 3 s, SIGTERM
               after 1.5 s: requests lost after they were
               sent (reset, timeout, cut responses; refused connects are
               what a stopped server gives); and the same with SIGHUP (no
               error of any kind expected).

Writes bench/results/hardening.json (machine, date, commit, load, every
figure) and its table between the `<!-- hardening:begin -->` markers of
bench/README.md. --quick: shorter runs, fewer drain runs, writes nothing.
"""

import argparse
import datetime
import json
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import measure  # noqa: E402  bench/measure: servers, CPU of a tree, the machine

BEGIN, END = "<!-- hardening:begin -->", "<!-- hardening:end -->"
ALL_PARTS = {"body-flood", "idle-memory", "slowloris", "drain"}
GIB = 1 << 30


SERVER = {"kind": "python", "python": "/usr/bin/python3", "build": os.path.join(ROOT, "build")}


def server_spec(*options):
    """The server under attack: `python3 -m anvil` with the hello app (or,
    with --server native, anvil-native hello), one worker."""
    common = ["--bind", "127.0.0.1:0", "--workers", "1"] + list(options)
    if SERVER["kind"] == "native":
        argv = [os.path.join(SERVER["build"], "bin", "anvil-native")] + common + ["hello"]
        return measure.ServerSpec("anvil-native", argv, ready="line")
    env = {"PYTHONPATH": os.pathsep.join([os.path.join(ROOT, "python"),
                                          os.path.join(ROOT, "bench", "apps")])}  # hello.py
    argv = [SERVER["python"], "-m", "anvil"] + common + ["hello:app"]
    return measure.ServerSpec("anvil", argv, ready="line", env=env)


def worker_of(server):
    for _ in range(500):  # bounded: 5 s for the worker to fork
        kids = measure.descendants(server.pid)
        if kids:
            return kids[0]
        time.sleep(0.01)
    raise RuntimeError("no worker process")


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    """Samples a process's VmRSS every 20 ms; .peak_kib after stop()."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kib = 0
        self.samples = 0
        self._done = threading.Event()

    def run(self):
        while not self._done.wait(0.02):
            try:
                self.peak_kib = max(self.peak_kib, status_kib(self.pid, "VmRSS"))
                self.samples += 1
            except OSError:
                return

    def stop(self):
        self._done.set()
        self.join(timeout=5)


def hammer(build, url, seconds, rate=None, connections=1, timeout="10s", cpu=1):
    out = tempfile.NamedTemporaryFile(prefix="anvil-hammer-", suffix=".json", delete=False)
    out.close()
    argv = ["taskset", "-c", str(cpu), os.path.join(build, "bin", "hammer"), "-c",
            str(connections), "-d", f"{seconds}s", "--timeout", timeout, "--json", out.name,
            "--no-progress"]
    if rate:
        argv += ["--rate", str(rate)]
    proc = subprocess.Popen(argv + [url], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, out.name


def hammer_result(proc, path):
    proc.wait(timeout=120)
    try:
        with open(path) as f:
            r = json.load(f)
    finally:
        os.unlink(path)
    lat = r["latency"]
    p99 = lat["percentiles_us"].get("99")
    return {"requests": r["requests"], "responses": r["responses"], "errors": r["errors"],
            "p99_ms": (p99 / 1000.0) if p99 is not None else None,
            "max_ms": lat["max_us"] / 1000.0}


# --- body flood -------------------------------------------------------------------

def connect_nonblocking(port):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    return s


class Pushers(threading.Thread):
    """n connections, each declaring a 1 GB body and pushing it as fast as
    the server takes bytes; when the server answers and closes one, it
    starts over on a new connection. One thread (a selector), so that the
    attack does not crowd the normal client off the client's core."""

    HEAD = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000\r\n\r\n"

    def __init__(self, port, n, stop):
        super().__init__(daemon=True)
        self.port, self.n, self.stop_event = port, n, stop
        self.sent = 0
        self.answers = {}
        self.connections = 0

    def _open(self, sel):
        s = connect_nonblocking(self.port)
        self.connections += 1
        sel.register(s, selectors.EVENT_WRITE, [self.HEAD, 0])

    def _answer(self, sel, s):
        try:
            data = s.recv(64)
        except OSError:
            data = b""
        status = data[9:12].decode("latin-1") if data.startswith(b"HTTP/1.1 ") else "none"
        self.answers[status] = self.answers.get(status, 0) + 1
        sel.unregister(s)
        s.close()

    def run(self):
        block = b"x" * (256 * 1024)
        sel = selectors.DefaultSelector()
        for _ in range(self.n):
            self._open(sel)
        while not self.stop_event.is_set():
            for key, events in sel.select(timeout=0.05):
                s, state = key.fileobj, key.data
                if events & selectors.EVENT_READ:
                    self._answer(sel, s)
                    self._open(sel)
                    continue
                try:
                    if state[0]:
                        state[0] = state[0][s.send(state[0]):]
                        if not state[0]:
                            sel.modify(s, selectors.EVENT_WRITE | selectors.EVENT_READ, state)
                    else:
                        self.sent += s.send(block)
                except BlockingIOError:
                    pass
                except OSError:
                    self._answer(sel, s)
                    self._open(sel)
        for key in list(sel.get_map().values()):
            key.fileobj.close()


def spool_files(pid, spool):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith(spool + "/")
        except OSError:
            pass
    return n


def disk_free(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def body_flood(args, max_body_size):
    spool = tempfile.mkdtemp(prefix="anvil-flood-spool-", dir="/var/tmp")
    options = ["--spool-dir", spool]
    if max_body_size:
        options += ["--max-body-size", str(max_body_size)]
    server = measure.start_server(server_spec(*options), cpu=0)
    try:
        worker = worker_of(server)
        rss_before = status_kib(worker, "VmRSS")
        free_before = disk_free(spool)
        sampler = RssSampler(worker)
        sampler.start()
        stop = threading.Event()
        pushers = Pushers(server.port, 32, stop)
        # The pushers run in this process, pinned to core 1 with it.
        os.sched_setaffinity(0, {1})
        normal, path = hammer(args.build, f"http://127.0.0.1:{server.port}/", args.seconds,
                              rate=50)
        pushers.start()
        min_free = free_before
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            min_free = min(min_free, disk_free(spool))
            time.sleep(0.05)  # sampling the disk, bounded by the run's length
        stop.set()
        pushers.join(timeout=10)
        result = hammer_result(normal, path)
        sampler.stop()
        # The pushers' connections are closed: their spool files must go.
        spool_fds, released_s = spool_files(worker, spool), 0.0
        t0 = time.monotonic()
        while spool_fds and time.monotonic() - t0 < 10:  # bounded poll
            time.sleep(0.05)
            spool_fds = spool_files(worker, spool)
        released_s = round(time.monotonic() - t0, 2)
        return {
            "max_body_size": max_body_size or "default (100 MiB)",
            "seconds": args.seconds,
            "worker_rss_before_mib": round(rss_before / 1024, 1),
            "worker_peak_rss_mib": round(sampler.peak_kib / 1024, 1),
            "worker_vmhwm_mib": round(status_kib(worker, "VmHWM") / 1024, 1),
            "rss_samples": sampler.samples,
            "pushed_gib": round(pushers.sent / GIB, 2),
            "pusher_connections": pushers.connections,
            "pusher_answers": pushers.answers,
            "peak_disk_mib": round((free_before - min_free) / (1 << 20), 1),
            "spool_files_open_after": spool_fds,
            "spool_released_within_s": released_s,
            "normal": result,
        }
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count())))
        server.stop()
        os.rmdir(spool) if os.path.isdir(spool) and not os.listdir(spool) else None


# --- memory per idle connection, and the slowloris run ---------------------------------

def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def idle_memory(args):
    n = args.idle
    server = measure.start_server(
        server_spec("--keepalive", "120", "--timeout", "120",
                    "--max-connections", str(n + 100)), cpu=0)
    socks = []
    try:
        worker = worker_of(server)
        get = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
        # Warm the pools, then measure from here.
        for s in [socket.create_connection(("127.0.0.1", server.port)) for _ in range(10)]:
            s.sendall(get)
            s.recv(4096)
            s.close()
        time.sleep(3)
        before = status_kib(worker, "VmRSS")
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(get)
            socks.append(s)
        for s in socks:
            s.recv(4096)
        time.sleep(5)  # two ticks (1 s each here) to park, one more to trim the heap
        idle = status_kib(worker, "VmRSS")
        # Heads in progress: one more byte on each, the head never ends.
        for s in socks:
            s.sendall(b"GET / HTTP/1.1\r\nX: ")
        time.sleep(1)
        heads = status_kib(worker, "VmRSS")
        return {"connections": n, "rss_before_kib": before, "rss_idle_kib": idle,
                "bytes_per_idle_connection": round((idle - before) * 1024 / n),
                "bytes_per_head_in_progress": round((heads - before) * 1024 / n)}
    finally:
        for s in socks:
            s.close()
        server.stop()


class Slowloris(threading.Thread):
    """n connections, each sending one header byte every `every` seconds,
    reconnecting when the server closes one."""

    def __init__(self, port, n, every, stop):
        super().__init__(daemon=True)
        self.port, self.n, self.every, self.stop_event = port, n, every, stop
        self.open_max = 0
        self.closed_by_server = 0
        self.answers = {}

    def run(self):
        line = b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 100000
        socks = {}
        sel = selectors.DefaultSelector()
        start = time.monotonic()
        slots = [start + self.every * i / self.n for i in range(self.n)]
        while not self.stop_event.is_set():
            now = time.monotonic()
            for i in range(self.n):
                if slots[i] > now:
                    continue
                slots[i] = now + self.every
                s, sent = socks.get(i, (None, 0))
                if s is None:
                    s = connect_nonblocking(self.port)
                    sel.register(s, selectors.EVENT_READ, i)
                try:
                    s.send(line[sent:sent + 1])
                    socks[i] = (s, sent + 1)
                except (BlockingIOError, InterruptedError):
                    socks[i] = (s, sent)
                except OSError:
                    sel.unregister(s)
                    s.close()
                    socks.pop(i, None)
                    self.closed_by_server += 1
            self.open_max = max(self.open_max, len(socks))
            for key, _ in sel.select(timeout=0.01):
                i = key.data
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if data.startswith(b"HTTP/1.1 "):
                    status = data[9:12].decode()
                    self.answers[status] = self.answers.get(status, 0) + 1
                sel.unregister(s)
                s.close()
                socks.pop(i, None)
                self.closed_by_server += 1
        for s, _ in socks.values():
            s.close()


def slowloris(args, max_connections):
    options = ["--max-connections", str(max_connections)] if max_connections else []
    server = measure.start_server(server_spec(*options), cpu=0)
    try:
        worker = worker_of(server)
        stop = threading.Event()
        os.sched_setaffinity(0, {1})
        attack = Slowloris(server.port, args.slow, 0.5, stop)
        attack.start()
        time.sleep(min(5, args.seconds / 2))  # every slow client is connected
        sampler = RssSampler(worker)
        sampler.start()
        normal, path = hammer(args.build, f"http://127.0.0.1:{server.port}/", args.seconds,
                              rate=50)
        result = hammer_result(normal, path)
        stop.set()
        attack.join(timeout=30)
        sampler.stop()
        return {"slow_clients": args.slow, "max_connections": max_connections or "default",
                "slow_open_max": attack.open_max, "slow_answers": attack.answers,
                "slow_closed_by_server": attack.closed_by_server,
                "worker_peak_rss_mib": round(sampler.peak_kib / 1024, 1), "normal": result}
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count())))
        server.stop()


# --- drain and reload ---------------------------------------------------------------

LOST = ("reset", "read_timeout", "malformed")


# (workers, keep-alive connections): the case, and one with more
# processes sharing the listener (more of them close it one after another).
DRAIN_SHAPES = ((2, 16), (8, 128))


def drain_run(args, sig, workers, connections):
    server = measure.start_server(server_spec("--workers", str(workers),
                                              "--graceful-timeout", "10"), cpu=0)
    try:
        proc, path = hammer(args.build, f"http://127.0.0.1:{server.port}/", 3,
                            connections=connections, timeout="5s")
        time.sleep(1.5)  # load is running
        server.proc.send_signal(sig)
        if sig == signal.SIGHUP:
            time.sleep(0.5)  # the new workers serve while the old drain
        result = hammer_result(proc, path)
        return result["errors"] | {"responses": result["responses"]}
    finally:
        server.stop()


def drain(args):
    out = []
    for workers, connections in DRAIN_SHAPES:
        shape = {"workers": workers, "connections": connections}
        for name, sig in (("sigterm", signal.SIGTERM), ("sighup", signal.SIGHUP)):
            runs = [drain_run(args, sig, workers, connections) for _ in range(args.runs)]
            lost = [sum(r.get(k, 0) for k in LOST) for r in runs]
            errors = [sum(v for k, v in r.items() if k != "responses") for r in runs]
            shape[name] = {"runs": args.runs, "lost_per_run": lost, "lost_total": sum(lost),
                           "runs_with_loss": sum(1 for n in lost if n),
                           "errors_per_run": errors, "raw": runs}
        out.append(shape)
    return out


# --- report ----------------------------------------------------------------------------

def table(results):
    m = results["machine"]
    load = ", ".join(f"{x:.1f}" for x in m["loadavg_start"])
    lines = [BEGIN, "", "### Under attack (`bench/hardening/run.py`)", "",
             ("Server: `python3 -m anvil` (the hello app), one worker" if results.get("server") !=
              "native" else "Server: `anvil-native hello`, one worker")
             + " pinned to core 0, attackers and client on core 1; "
             f"{m['cpu_model']}, {m['cores']} cores; commit `{results['commit'][:10]}`, "
             f"{results['date']}; load average at start: {load}"
             + (" (a **shared, busy** machine: figures are indicative)" if m["loadavg_start"][0] > 2
                else "") + ".", ""]
    lines += ["**Body flood** (32 clients each declare 1 GB and push for "
              f"{results['body_flood'][0]['seconds']} s; a normal client at 50 requests/s):", "",
              "| --max-body-size | worker RSS before | peak RSS (sampled) | VmHWM | pushed | "
              "pushers answered | peak spool disk | normal p99 | normal failures |",
              "|---|--:|--:|--:|--:|---|--:|--:|--:|"]
    for r in results["body_flood"]:
        n = r["normal"]
        fails = sum(n["errors"].values())
        lines.append(f"| {r['max_body_size']} | {r['worker_rss_before_mib']} MiB | "
                     f"{r['worker_peak_rss_mib']} MiB | {r['worker_vmhwm_mib']} MiB | "
                     f"{r['pushed_gib']} GiB | {r['pusher_answers']} | {r['peak_disk_mib']} MiB | "
                     f"{n['p99_ms']:.1f} ms | {fails} of {n['requests']} |")
    im = results["idle_memory"]
    lines += ["", f"**Memory per connection** ({im['connections']} connections, RSS delta / N): "
              f"idle keep-alive (parked) {im['bytes_per_idle_connection']} bytes; "
              f"head in progress {im['bytes_per_head_in_progress']} bytes.", ""]
    lines += ["**Slowloris** (one header byte every 0.5 s per slow client; a normal client at "
              "50 requests/s):", "",
              "| slow clients | --max-connections | open at once | shed/answered | worker peak RSS "
              "| normal p99 | normal failures |", "|--:|---|--:|---|--:|--:|--:|"]
    for r in results["slowloris"]:
        n = r["normal"]
        lines.append(f"| {r['slow_clients']} | {r['max_connections']} | {r['slow_open_max']} | "
                     f"{r['slow_answers']} | {r['worker_peak_rss_mib']} MiB | "
                     f"{n['p99_ms']:.1f} ms | {sum(n['errors'].values())} of {n['requests']} |")
    prov = results.get("provenance", {}).get("drain")
    rerun = (f" (rerun alone at commit `{prov['commit'][:10]}`, {prov['date']}, load average "
             f"{prov['loadavg_start'][0]:.1f})" if prov else "")
    lines += ["", f"**Drain and reload**{rerun}: hammer with keep-alive connections, the signal "
              "after 1.5 s of its 3 s; lost = requests reset, timed out or cut after they were "
              "sent (a refused connection is not lost: the server had stopped).", "",
              "| workers | connections | runs | SIGTERM: lost (runs with loss) | "
              "SIGHUP: errors of any kind |", "|--:|--:|--:|--:|--:|"]
    for d in results["drain"]:
        lines.append(f"| {d['workers']} | {d['connections']} | {d['sigterm']['runs']} | "
                     f"{d['sigterm']['lost_total']} ({d['sigterm']['runs_with_loss']}) | "
                     f"{sum(d['sighup']['errors_per_run'])} |")
    lines += ["", "Rerun: `bench/hardening/run.py` (`--quick` for a short look; writes nothing).",
              "", END]
    return "\n".join(lines)


def write_section(path, section):
    """Puts section (markers included) in place of the marked one in path,
    or at its end."""
    text = open(path).read() if os.path.exists(path) else ""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--python", default="/usr/bin/python3")
    p.add_argument("--server", choices=["python", "native"], default="python",
                   help="python3 -m anvil with the hello app, or anvil-native hello")
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--idle", type=int, default=5000)
    p.add_argument("--slow", type=int, default=5000)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", help="comma-separated: body-flood,idle-memory,slowloris,drain")
    p.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "hardening.json"))
    p.add_argument("--readme", default=os.path.join(ROOT, "bench", "README.md"))
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.idle, args.slow, args.runs = 4, 1000, 1000, 2
    SERVER.update(kind=args.server, python=args.python, build=args.build)
    files = raise_nofile()
    # The client holds the slow and idle connections itself: it needs a
    # descriptor for each (the server has its own limit).
    args.slow = min(args.slow, files - 200)
    args.idle = min(args.idle, files - 200)
    only = set(args.only.split(",")) if args.only else ALL_PARTS
    results = {"machine": dict(measure.machine(), loadavg_start=measure.load_average()),
               "commit": measure.git_commit(ROOT, dirty_paths=["server", "python", "parser"]), "server": args.server,
               "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if "body-flood" in only:
        results["body_flood"] = [body_flood(args, 2 * GIB), body_flood(args, None)]
        print(json.dumps(results["body_flood"], indent=1), flush=True)
    if "idle-memory" in only:
        results["idle_memory"] = idle_memory(args)
        print(json.dumps(results["idle_memory"], indent=1), flush=True)
    if "slowloris" in only:
        results["slowloris"] = [slowloris(args, None), slowloris(args, args.slow // 2)]
        print(json.dumps(results["slowloris"], indent=1), flush=True)
    if "drain" in only:
        results["drain"] = drain(args)
        print(json.dumps([{k: ({kk: vv for kk, vv in v.items() if kk != "raw"}
                               if isinstance(v, dict) else v) for k, v in d.items()}
                          for d in results["drain"]], indent=1), flush=True)
    if args.quick:
        return 0
    # A partial run (--only) updates its parts of the JSON, each part it ran
    # labelled with its own commit, date and load; the table needs all parts.
    if os.path.exists(args.json) and only != ALL_PARTS:
        with open(args.json) as f:
            earlier = json.load(f)
        this_run = {"commit": results["commit"], "date": results["date"],
                    "loadavg_start": results["machine"]["loadavg_start"]}
        parts = {k: v for k, v in results.items() if k not in ("machine", "commit", "date")}
        provenance = earlier.get("provenance", {}) | {k: this_run for k in parts if k != "server"}
        results = earlier | parts | {"provenance": provenance}
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    if all(k in results for k in ("body_flood", "idle_memory", "slowloris", "drain")):
        write_section(args.readme, table(results))
        print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
