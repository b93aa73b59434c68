"""Starting and stopping the servers under test, and their command lines.

start_server(spec, cpu) starts a ServerSpec pinned to one core (`taskset -c`),
waits until it serves (anvil's "listening on" line, or a port that accepts a
connection; polled, bounded in time, never a blind sleep) and returns a
RunningServer. The builders below (anvil, gunicorn, uwsgi, ...) return the
ServerSpec of each server the benchmarks compare, serving a WSGI app given as
"module:callable" (importable from the spec's cwd or env's PYTHONPATH).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .cpu import descendants

HOST = "127.0.0.1"
LISTENING = re.compile(rb"anvil: listening on http://(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d+)")
START_TIMEOUT_S = 60.0  # PyPy importing Django on a busy 2-core machine
STOP_TIMEOUT_S = 15.0
LAUNCH = str(Path(__file__).resolve().parent / "launch.py")


def pinned(cpu, argv):
    """argv run on CPU `cpu` only, it and every thread and child it starts."""
    return ["taskset", "-c", str(cpu)] + list(argv)


class ServerSpec:
    """How to start one server.

    argv may contain "{port}" (a free port chosen before the start, for
    servers that cannot bind port 0 and report it), "{workdir}" (a fresh
    temporary directory, removed at stop) and the fields setup returns; ready
    is "line" (wait for anvil's listening line, port taken from it) or "port"
    (poll connect). setup(workdir, port) may write files (nginx's config) and
    return extra format fields for argv.
    """

    def __init__(self, name, argv, ready="port", env=None, cwd=None, setup=None,
                 stop_signal=signal.SIGTERM, note=""):
        self.name = name
        self.argv = list(argv)
        self.ready = ready
        self.env = dict(env or {})
        self.cwd = cwd
        self.setup = setup
        self.stop_signal = stop_signal
        self.note = note


class RunningServer:
    def __init__(self, spec, proc, port, workdir, log_path):
        self.spec = spec
        self.proc = proc
        self.port = port
        self.host = HOST
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

    def terminate(self):
        """Signals the server (its stop signal) and waits; kills its tree if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(self.spec.stop_signal)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _kill_tree(self.proc.pid)
                self.proc.wait(timeout=STOP_TIMEOUT_S)
        return self.proc.returncode

    def stop(self):
        """terminate(), then removes the work directory (its log with it)."""
        rc = self.terminate()
        shutil.rmtree(self.workdir, ignore_errors=True)
        return rc

    def stop_and_read_log(self):
        """(exit status, the server's log): stop() removes the log."""
        rc = self.terminate()
        log = self.log()
        self.stop()
        return rc, log


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def format_argv(spec, workdir, port):
    fields = {"port": port, "workdir": workdir}
    if spec.setup is not None:
        fields.update(spec.setup(workdir, port) or {})
    return [a.format(**fields) for a in spec.argv]


class StartError(RuntimeError):
    """A server that exited or did not serve in time; .log is its output."""

    def __init__(self, message, log=""):
        super().__init__(message)
        self.log = log


def start_server(spec, cpu=0):
    """Starts spec pinned to `cpu` and waits until it serves; raises StartError
    (with the server's output) when it exits first or is not ready in time."""
    workdir = tempfile.mkdtemp(prefix=f"anvil-bench-{spec.name.replace(' ', '_')}-")
    port = free_port() if spec.ready == "port" else 0
    argv = pinned(cpu, format_argv(spec, workdir, port))
    env = dict(os.environ)
    env.update(spec.env)
    log_path = os.path.join(workdir, "server.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=env, cwd=spec.cwd, start_new_session=True)
    server = RunningServer(spec, proc, port, workdir, log_path)
    try:
        if spec.ready == "line":
            server.port = _wait_line(proc, log_path)
        else:
            _wait_port(proc, port)
    except StartError as e:
        _, log = server.stop_and_read_log()
        last = [ln.strip() for ln in log.strip().splitlines() if ln.strip()][-1:]
        raise StartError(f"{e}{': ' + last[0][:200] if last else ''}", log) from None
    return server


def _wait_line(proc, log_path):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        with open(log_path, "rb") as f:
            m = LISTENING.search(f.read())
        if m:
            return int(m.group(2))
        if proc.poll() is not None:
            raise StartError(f"exited ({proc.returncode}) before listening")
        time.sleep(0.01)  # polling the log file for the line, bounded by the deadline
    raise StartError(f"no 'anvil: listening on' line in {START_TIMEOUT_S:.0f} s")


def _wait_port(proc, port):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError(f"exited ({proc.returncode}) before accepting")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.01)  # polling connect, bounded by the deadline
    raise StartError(f"nothing accepted on port {port} in {START_TIMEOUT_S:.0f} s")


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


# --- the servers' command lines -----------------------------------------------------
# Each builder takes the interpreter, the app ("module:callable") and the few
# settings the benchmarks vary; name, env, cwd and note go to the ServerSpec.

def _spec(name, argv, **kw):
    return ServerSpec(name, argv, **kw)


def anvil(python, app=None, *, name="anvil", parser="fast", workers=None, threads=None,
          backlog=None, stats=False, native=None, **kw):
    """`python -m anvil` (port 0, ready on its line); native="hello" serves the
    C++ handler instead of an app."""
    argv = [python, "-m", "anvil", "--bind", f"{HOST}:0"]
    if workers is not None:
        argv += ["--workers", str(workers)]
    if threads is not None:
        argv += ["--threads", str(threads)]
    if native:
        argv += ["--native", native]
    else:
        argv += ["--parser", parser]
    if backlog is not None:
        argv += ["--backlog", str(backlog)]
    if stats:
        argv.append("--stats")
    return _spec(name, argv + ([app] if app else []), ready="line", **kw)


def anvil_native(build_dir, handler="hello", *, name="anvil-native", workers=None, backlog=None,
                 stats=False, **kw):
    argv = [os.path.join(build_dir, "bin", "anvil-native"), "--bind", f"{HOST}:0"]
    if workers is not None:
        argv += ["--workers", str(workers)]
    if backlog is not None:
        argv += ["--backlog", str(backlog)]
    if stats:
        argv.append("--stats")
    return _spec(name, argv + [handler], ready="line", **kw)


def refserver(python, app, *, name="refserver", parser="python", **kw):
    """anvil's pure-Python reference server (the survey's ladder steps 1 and 2)."""
    return _spec(name, [python, "-m", "anvil.refserver", "--bind", f"{HOST}:0", "--parser",
                        parser, app], ready="line", **kw)


def gunicorn(python, app, *, name="gunicorn", worker_class="sync", workers=1, threads=None,
             backlog=None, **kw):
    """A master and `workers` workers; gthread with `threads` threads each."""
    argv = [python, "-m", "gunicorn", "--workers", str(workers), "--worker-class", worker_class,
            "--bind", f"{HOST}:{{port}}"]
    if threads is not None:
        argv += ["--threads", str(threads)]
    if backlog is not None:
        argv += ["--backlog", str(backlog)]
    return _spec(name, argv + [app], **kw)


def uwsgi(wsgi_file, callable_="app", *, name="uwsgi", processes=1, threads=None, listen=1024,
          **kw):
    """uWSGI's HTTP socket with embedded CPython (Debian has no PyPy plugin).
    `--http-socket` has no keep-alive: it closes every connection."""
    argv = ["uwsgi", "--plugin", "python3", "--http-socket", f"{HOST}:{{port}}", "--wsgi-file",
            str(wsgi_file), "--callable", callable_, "--processes", str(processes),
            "--disable-logging", "--die-on-term", "--need-app", "--listen", str(listen)]
    if threads is not None:
        argv += ["--threads", str(threads), "--enable-threads"]
    return _spec(name, argv, **kw)


def waitress(python, app, *, name="waitress", threads=None, backlog=None, **kw):
    """waitress (4 threads by default). SIGTERM: its SIGINT handling can wait
    on its threads past STOP_TIMEOUT_S on a busy machine."""
    argv = [python, "-m", "waitress", f"--listen={HOST}:{{port}}"]
    if threads is not None:
        argv.append(f"--threads={threads}")
    if backlog is not None:
        argv.append(f"--backlog={backlog}")
    return _spec(name, argv + [app], **kw)


def twisted(python, app, *, name="twisted", **kw):
    """`twist web --wsgi`: its access log cannot be turned off, so /dev/null."""
    module, _, attr = app.partition(":")
    return _spec(name, [python, "-m", "twisted", "web", "--wsgi", f"{module}.{attr}", "--listen",
                        f"tcp:{{port}}:interface={HOST}", "--logfile", "/dev/null"], **kw)


def uvicorn(python, app, *, name="uvicorn", loop="auto", http="auto", interface="wsgi", **kw):
    """uvicorn serving a WSGI app (`--interface wsgi`: its WSGIMiddleware runs
    the app in a pool of 10 threads; "asgi3" for an ASGI app), one process,
    no access log. loop: uvloop (libuv, C) or asyncio (Python); http:
    httptools (C) or h11 (Python)."""
    return _spec(name, [python, "-m", "uvicorn", "--interface", interface, "--loop", loop, "--http",
                        http, "--host", HOST, "--port", "{port}", "--no-access-log",
                        "--log-level", "warning", "--lifespan", "off", app], **kw)


def import_error(python, modules, timeout_s=60):
    """None when `python` imports every module, else the import's last error
    line (e.g. "ModuleNotFoundError: No module named 'uvloop.loop'")."""
    code = "; ".join(f"import {m}" for m in modules)
    try:
        r = subprocess.run([python, "-c", code], capture_output=True, text=True,
                           timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{type(e).__name__}: {e}"
    if r.returncode == 0:
        return None
    lines = [ln.strip() for ln in r.stderr.splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit status {r.returncode}"


def launched(python, server, app, *, name=None, **kw):
    """launch.py's servers, which have no command line of their own:
    wsgiref, tornado, gevent, eventlet, cheroot, hypercorn."""
    return _spec(name or server, [python, LAUNCH, server, "{port}", app], **kw)


def nginx(*, name="nginx", master=True, backlog=2048, body="Hello, World!", **kw):
    """nginx answering `return 200` from its config (no access log, 1 worker);
    master=False: one process in all."""
    def setup(workdir, port):
        conf = os.path.join(workdir, "nginx.conf")
        temp = {k: os.path.join(workdir, k) for k in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
        with open(conf, "w") as f:
            f.write(f"""daemon off;
master_process {'on' if master else 'off'};
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {temp['body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
    server {{
        listen {HOST}:{port} backlog={backlog};
        location / {{ default_type text/plain; return 200 "{body}"; }}
    }}
}}
""")
        return {"conf": conf}

    return _spec(name, ["nginx", "-p", "{workdir}", "-c", "{conf}", "-e", "{workdir}/error.log"],
                 setup=setup, **kw)
