"""Server CPU time per request, as DESIGN.md measures it; reusable by the survey.

The pieces, each usable on its own:
  * start_server(spec): start a server pinned to one core (`taskset -c`), wait
    until it is ready (its "anvil: listening on" line, or a port that accepts),
    and return a RunningServer (port, pid, stop()).
  * tree_cpu_seconds(pid): user+sys of a process and all its live descendants
    (threads included: /proc/PID/stat sums them), plus the children it has
    reaped (cutime/cstime count only waited-for children; live ones are
    summed one by one).
  * verify(host, port, request): one request on a raw socket; checks the
    status and the body before anything is measured.
  * Clients (Hammer preferred; Wrk and Ab when hammer is not built): run N
    requests pinned to the other core and return counts and rates.
  * measure(server, client, ...): a warm-up run, then a counted run between
    two CPU snapshots: CPU time per request = delta / requests answered.

Nothing here sleeps blindly: readiness is a line or a successful connect,
polled in a loop bounded in time.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
LISTENING = re.compile(rb"anvil: listening on http://(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d+)")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


# --- servers -----------------------------------------------------------------

class ServerSpec:
    """How to start one server.

    argv may contain "{port}" (a free port chosen before the start, for
    servers that cannot bind port 0 and report it); ready is "line" (wait for
    anvil's listening line, port taken from it) or "port" (poll connect).
    setup(workdir, port) may write files (nginx's config) and return extra
    format fields for argv.
    """

    def __init__(self, name, argv, ready="port", env=None, cwd=None, setup=None,
                 stop_signal=signal.SIGTERM, note=""):
        self.name = name
        self.argv = list(argv)
        self.ready = ready
        self.env = env or {}
        self.cwd = cwd
        self.setup = setup
        self.stop_signal = stop_signal
        self.note = note


class RunningServer:
    def __init__(self, spec, proc, port, workdir, log_path):
        self.spec = spec
        self.proc = proc
        self.port = port
        self.host = "127.0.0.1"
        self.workdir = workdir
        self.log_path = log_path

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        """Signals the server (its stop signal) and waits; kills it if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(self.spec.stop_signal)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _kill_tree(self.proc.pid)
                self.proc.wait(timeout=STOP_TIMEOUT_S)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return self.proc.returncode


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(spec, cpu=0):
    """Starts spec pinned to `cpu` and waits until it serves; raises on failure."""
    workdir = tempfile.mkdtemp(prefix=f"anvil-bench-{spec.name.replace(' ', '_')}-")
    port = free_port() if spec.ready == "port" else 0
    fields = {"port": port, "workdir": workdir}
    if spec.setup is not None:
        fields.update(spec.setup(workdir, port) or {})
    argv = ["taskset", "-c", str(cpu)] + [a.format(**fields) for a in spec.argv]
    env = dict(os.environ)
    env.update(spec.env)
    log_path = os.path.join(workdir, "server.log")
    log = open(log_path, "wb")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=env, cwd=spec.cwd, start_new_session=True)
    finally:
        log.close()
    server = RunningServer(spec, proc, port, workdir, log_path)
    try:
        if spec.ready == "line":
            server.port = _wait_line(proc, log_path)
        else:
            _wait_port(proc, port)
    except Exception:
        server.stop()
        raise
    return server


def _wait_line(proc, log_path):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        with open(log_path, "rb") as f:
            m = LISTENING.search(f.read())
        if m:
            return int(m.group(2))
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}) before listening")
        time.sleep(0.01)  # polling the log file for the line, bounded by the deadline
    raise TimeoutError("no 'anvil: listening on' line in time")


def _wait_port(proc, port):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}) before accepting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.01)  # polling connect, bounded by the deadline
    raise TimeoutError(f"nothing accepted on port {port} in time")


def _kill_tree(pid):
    for child in descendants(pid):
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# --- CPU time of a process tree -------------------------------------------------

def _read_stat(pid):
    """(ppid, utime, stime, cutime, cstime) in ticks, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = data[data.rfind(b")") + 2:].split()
    return int(fields[1]), int(fields[11]), int(fields[12]), int(fields[13]), int(fields[14])


def descendants(pid):
    """PIDs of every live descendant of pid."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _read_stat(int(entry))
            if st is not None:
                children.setdefault(st[0], []).append(int(entry))
    out = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            out.append(child)
            todo.append(child)
    return out


def tree_cpu_seconds(pid):
    """(user, sys) seconds of pid's tree: itself, its live descendants, and
    the reaped children accounted to it (cutime/cstime)."""
    user = system = 0
    root = _read_stat(pid)
    if root is None:
        raise RuntimeError(f"process {pid} is gone")
    user += root[1] + root[3]
    system += root[2] + root[4]
    for child in descendants(pid):
        st = _read_stat(child)
        if st is not None:
            # A child's cutime/cstime is already in its parent's once reaped,
            # and a live child's own reaped children are counted here.
            user += st[1] + st[3]
            system += st[2] + st[4]
    return user / CLK_TCK, system / CLK_TCK


def tree_runtime_seconds(pid):
    """CPU time of pid's live tree from /proc/*/task/*/schedstat (nanoseconds,
    user+sys together): a cross-check of tree_cpu_seconds without its 10 ms
    ticks. Threads and children that exited are not in it."""
    total = 0
    for p in [pid] + descendants(pid):
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total / 1e9


# --- checking a response ---------------------------------------------------------

def verify(host, port, request, status=200, body=b"Hello, World!", timeout=10.0):
    """Sends one request; raises AssertionError unless status and body match."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            head_end = data.find(b"\r\n\r\n")
            if head_end >= 0:
                m = re.search(rb"\r\ncontent-length:\s*(\d+)", data[:head_end], re.I)
                if m and len(data) >= head_end + 4 + int(m.group(1)):
                    break
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, got_body = data.partition(b"\r\n\r\n")
    line = head.split(b"\r\n", 1)[0]
    parts = line.split(b" ", 2)
    if len(parts) < 2 or parts[1] != str(status).encode():
        raise AssertionError(f"expected status {status}, got {line!r}")
    if body is not None and got_body[:len(body)] != body:
        raise AssertionError(f"expected body {body!r}, got {got_body[:80]!r}")
    return True


def keep_alive_request(request):
    """The request without its Connection field (chrome-2013 says close)."""
    head, sep, rest = request.partition(b"\r\n\r\n")
    lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"connection:")]
    return b"\r\n".join(lines) + sep + rest


# --- clients ----------------------------------------------------------------------

class ClientResult:
    def __init__(self, requests, errors, duration_s, requests_per_s, connects=None,
                 p50_us=None, p99_us=None, raw=None):
        self.requests = requests
        self.errors = errors
        self.duration_s = duration_s
        self.requests_per_s = requests_per_s
        self.connects = connects
        self.p50_us = p50_us
        self.p99_us = p99_us
        self.raw = raw

    def as_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "raw"}


class Hammer:
    """anvil's load generator: counted requests, --close, --rate, JSON report."""

    name = "hammer"

    def __init__(self, path):
        self.path = path

    def run(self, host, port, request_file, close, requests, connections=40, rate=None, cpu=1,
            timeout_s=600):
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            json_path = f.name
        argv = ["taskset", "-c", str(cpu), self.path, "-c", str(connections), "-t", "1",
                "--request", request_file, "--requests", str(requests), "--json", json_path,
                "--no-progress"]
        if close:
            argv.append("--close")
        if rate:
            argv += ["--rate", str(rate)]
        argv.append(f"http://{host}:{port}/")
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=timeout_s)
            with open(json_path) as jf:
                text = jf.read()
        finally:
            os.unlink(json_path)
        if not text.strip():
            raise RuntimeError(f"hammer failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
        r = json.loads(text)
        lat = r.get("latency") or {}
        # Exact counts: requests == responses (expected status) + errors.
        return ClientResult(
            requests=r["requests"], errors=r["error_total"], duration_s=r["duration_s"],
            requests_per_s=r["requests_per_s"], connects=r.get("connects"),
            p50_us=_percentile_us(lat, 50), p99_us=_percentile_us(lat, 99), raw=r)


def _percentile_us(hist, p):
    """p-th percentile from hammer's histogram JSON ({"percentiles_us": {"50": ...}})."""
    if not isinstance(hist, dict):
        return None
    return (hist.get("percentiles_us") or {}).get(str(p))


class Wrk:
    """wrk (keep-alive only), sending the request's fields with -H; duration-based."""

    name = "wrk"

    def __init__(self, path="wrk"):
        self.path = path

    def run(self, host, port, request_file, close, requests, connections=40, rate=None, cpu=1,
            timeout_s=600, duration_s=5):
        if close or rate:
            raise ValueError("wrk measures keep-alive at full rate only")
        argv = ["taskset", "-c", str(cpu), self.path, "-t", "1", "-c", str(connections),
                "-d", f"{duration_s}s", "--latency"]
        for name, value in _fields(request_file):
            argv += ["-H", f"{name}: {value}"]
        argv.append(f"http://{host}:{port}/")
        out = subprocess.run(argv, capture_output=True, timeout=timeout_s).stdout.decode()
        total = int(re.search(r"(\d+) requests in", out).group(1))
        errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        errors += int(non2xx.group(1)) if non2xx else 0
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        return ClientResult(requests=total, errors=errors, duration_s=total / rps if rps else 0,
                            requests_per_s=rps)


class Ab:
    """ApacheBench (new connection per request, HTTP/1.0), fields with -H."""

    name = "ab"

    def __init__(self, path="ab"):
        self.path = path

    def run(self, host, port, request_file, close, requests, connections=40, rate=None, cpu=1,
            timeout_s=600):
        if not close or rate:
            raise ValueError("ab is used for new-connection-per-request runs only")
        argv = ["taskset", "-c", str(cpu), self.path, "-q", "-n", str(requests), "-c",
                str(connections)]
        for name, value in _fields(request_file):
            if name.lower() not in ("host", "connection"):
                argv += ["-H", f"{name}: {value}"]
        argv.append(f"http://{host}:{port}/")
        out = subprocess.run(argv, capture_output=True, timeout=timeout_s).stdout.decode()
        done = int(re.search(r"Complete requests:\s+(\d+)", out).group(1))
        failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))
        non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
        rps = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))
        return ClientResult(requests=done, errors=failed + (int(non2xx.group(1)) if non2xx else 0),
                            duration_s=done / rps if rps else 0, requests_per_s=rps)


def _fields(request_file):
    with open(request_file, "rb") as f:
        head = f.read().split(b"\r\n\r\n", 1)[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        yield name, value.strip()


def pick_client(hammer_path, close):
    """hammer when built, else ab (new connections) or wrk (keep-alive)."""
    if hammer_path and os.access(hammer_path, os.X_OK):
        return Hammer(hammer_path)
    return Ab() if close else Wrk()


# --- one measurement -----------------------------------------------------------------

def measure(server, client, request_file, close, requests, warmup, connections=40, rate=None,
            client_cpu=1):
    """A warm-up run, then a counted run between two CPU snapshots of the server tree."""
    if warmup:
        client.run(server.host, server.port, request_file, close, warmup, connections, rate=None,
                   cpu=client_cpu)
    user0, sys0 = tree_cpu_seconds(server.pid)
    run0 = tree_runtime_seconds(server.pid)
    result = client.run(server.host, server.port, request_file, close, requests, connections,
                        rate=rate, cpu=client_cpu)
    run1 = tree_runtime_seconds(server.pid)
    user1, sys1 = tree_cpu_seconds(server.pid)
    if server.proc.poll() is not None:
        raise RuntimeError(f"server exited ({server.proc.returncode}) during the run")
    answered = max(result.requests - result.errors, 0)
    user, system = user1 - user0, sys1 - sys0
    out = result.as_dict()
    out.update({
        "client": client.name, "close": close, "rate": rate, "connections": connections,
        "warmup": warmup, "server_user_s": round(user, 3), "server_sys_s": round(system, 3),
        "cpu_per_request_us": round((user + system) * 1e6 / answered, 3) if answered else None,
        "schedstat_per_request_us": round((run1 - run0) * 1e6 / answered, 3) if answered else None,
    })
    return out
