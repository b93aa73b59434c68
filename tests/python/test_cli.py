"""`python -m anvil` as a command: arguments, errors, the Python API, --native, --stats."""

import base64
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from support import PACKAGE_DIR, SERVER_PYTHON, TESTS, get, request


def assert_one_line_error(r, status, start, needle):
    """r exited with status after one stderr line that starts with start and holds needle."""
    assert r.returncode == status, r
    assert r.stderr.startswith(start) and needle in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1, r.stderr


def run_cli(*args, timeout=30, **popen_kwargs):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([PACKAGE_DIR, TESTS]))
    return subprocess.run([SERVER_PYTHON, "-m", "anvil", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=TESTS, **popen_kwargs)


def test_help_lists_every_option():
    r = run_cli("--help")
    assert r.returncode == 0
    for flag in ("--bind", "--workers", "--threads", "--parser", "--backlog", "--keepalive", "--timeout",
                 "--graceful-timeout", "--limit-request-line", "--limit-request-fields",
                 "--limit-request-field-size", "--max-body-size", "--access-log", "--log-level",
                 "--native", "--stats", "--worker-timeout", "--max-requests", "--max-requests-jitter",
                 "--error-log", "--access-log-format"):
        assert flag in r.stdout, flag


@pytest.mark.parametrize("args,needle", [
    (["--workers", "x", "apps.hello:app"], "--workers"),
    (["--parser", "slow", "apps.hello:app"], "--parser"),
    (["--bind", "nonsense", "apps.hello:app"], "--bind"),
    (["--no-such-option", "apps.hello:app"], "--no-such-option"),
    (["--worker-timeout", "x", "apps.hello:app"], "--worker-timeout"),
    (["--worker-timeout", "-1", "apps.hello:app"], "--worker-timeout"),
    (["--max-requests", "-1", "apps.hello:app"], "--max-requests"),
    (["--max-requests", "2.5", "apps.hello:app"], "--max-requests"),
    (["--max-requests-jitter", "x", "apps.hello:app"], "--max-requests-jitter"),
    (["--bind", "fd://x", "apps.hello:app"], "--bind"),
    (["--bind", "fd://999", "apps.hello:app"], "fd 999 is not open"),
    (["--bind", "fd://1", "apps.hello:app"], "fd 1 is not a socket"),
    (["--error-log", "", "apps.hello:app"], "--error-log"),
    (["--access-log-format", "%(nope)s", "apps.hello:app"], "unknown atom %(nope)s"),
    (["--access-log-format", "%(h", "apps.hello:app"], "--access-log-format"),
    (["--access-log-format", "50%", "apps.hello:app"], "--access-log-format"),
    ([], "MODULE:CALLABLE"),
])
def test_bad_arguments_one_line_exit_2(args, needle):
    r = run_cli(*args)
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("anvil: error:") and needle in lines[0], r.stderr


def test_bind_in_use_exits_1(start_server):
    s = start_server("apps.hello:app")
    r = run_cli("--bind", f"127.0.0.1:{s.port}", "apps.hello:app")
    assert r.returncode == 1 and "anvil: error" in r.stderr


def test_unix_socket_in_missing_dir_exits_1(tmp_path):
    # ENOENT maps to FileNotFoundError, a subclass of OSError: the error must
    # still be one line and exit 1 on every interpreter.
    r = run_cli("--bind", f"unix:{tmp_path / 'no-dir' / 's.sock'}", "apps.hello:app", timeout=15)
    assert_one_line_error(r, 1, "anvil: error: cannot start:", "No such file")


def test_unwritable_access_log_exits_1(tmp_path):
    # Each worker opens the log: a bad path must be one error at start, not
    # workers that die and are restarted forever.
    r = run_cli("--bind", "127.0.0.1:0", "--access-log", str(tmp_path / "no-dir" / "a.log"),
                "apps.hello:app", timeout=15)
    assert_one_line_error(r, 1, "anvil: error:", "access log")


@pytest.mark.parametrize("parser", ["llhttp", "fast", "http-parser"])
def test_every_parser_serves(start_server, parser):
    s = start_server("apps.hello:app", "--parser", parser)
    r = get(s, "/")
    assert r.status == 200 and r.body == b"Hello, World!"


def test_native_handlers(start_server):
    s = start_server(None, "--native", "hello")
    assert get(s, "/").body == b"Hello, World!"
    e = start_server(None, "--native", "echo")
    r = request(e, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nConnection: close\r\n\r\nping")
    assert r.body == b"ping"


def test_access_log(start_server, tmp_path):
    log = tmp_path / "access.log"
    s = start_server("apps.hello:app", "--access-log", str(log))
    get(s, "/logged?x=1", headers=[("User-Agent", "pytest-agent")])
    assert s.stop() == 0
    text = log.read_text()
    assert '"GET /logged?x=1 HTTP/1.1" 200 13' in text and "pytest-agent" in text


def test_stats_printed_on_exit(start_server):
    s = start_server("apps.hello:app", "--stats")
    for _ in range(5):
        get(s, "/")
    assert s.stop() == 0
    log = s.log + "".join(s.stdout_lines)
    for stage in ("read", "parse", "environ", "app", "write"):
        assert stage in log, log


def test_python_api_serve():
    # anvil.serve(app, bind=...) from a script, as an embedding user would call it.
    script = ("import anvil, sys; sys.path.insert(0, %r); from apps.hello import app; "
              "sys.exit(anvil.serve(app, bind='127.0.0.1:0', workers=1, parser='llhttp'))" % TESTS)
    env = dict(os.environ, PYTHONPATH=PACKAGE_DIR)
    p = subprocess.Popen([SERVER_PYTHON, "-c", script], stderr=subprocess.PIPE, env=env)
    try:
        for _ in range(20):
            line = p.stderr.readline().decode()
            if not line or "listening on" in line:
                break
        assert "anvil: listening on http://127.0.0.1:" in line, line
        port = int(line.rsplit(":", 1)[1])
        import http.client

        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/")
        assert c.getresponse().read() == b"Hello, World!"
        c.close()
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_serve_rejects_unknown_option():
    script = "import anvil; anvil.serve(lambda e, s: [], bind='127.0.0.1:0', no_such_option=1)"
    env = dict(os.environ, PYTHONPATH=PACKAGE_DIR)
    r = subprocess.run([SERVER_PYTHON, "-c", script], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode != 0 and "no_such_option" in r.stderr


@pytest.mark.parametrize("kind", ["unbound socket", "datagram socket", "file"])
def test_bind_fd_that_is_not_a_listening_stream_socket_exits_2(tmp_path, kind):
    if kind == "file":
        obj = open(tmp_path / "not-a-socket", "w")
        says = "is not a socket"
    elif kind == "datagram socket":
        obj = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        says = "is not a stream socket"
    else:
        obj = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        says = "is not listening"
    with obj:
        fd = obj.fileno()
        r = run_cli("--bind", f"fd://{fd}", "apps.hello:app", pass_fds=(fd,))
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0] == f"anvil: error: --bind: fd {fd} {says}: fd://{fd}", r.stderr


def test_systemd_fds_that_are_not_sockets_exit_1():
    # LISTEN_PID is the server's own pid (exec keeps the shell's), but fd 3 is
    # no socket: one error, exit 1 (the environment is wrong, not an option).
    script = 'exec 3</dev/null && LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([PACKAGE_DIR, TESTS]))
    r = subprocess.run(["/bin/bash", "-c", script, "bash", SERVER_PYTHON, "-m", "anvil", "apps.hello:app"],
                       capture_output=True, text=True, timeout=30, env=env, cwd=TESTS)
    assert_one_line_error(r, 1, "anvil: error: cannot start:", "LISTEN_FDS: fd 3 is not a socket")


def test_unwritable_error_log_exits_1(tmp_path):
    r = run_cli("--bind", "127.0.0.1:0", "--error-log", str(tmp_path / "no-dir" / "e.log"),
                "apps.hello:app", timeout=15)
    assert_one_line_error(r, 1, "anvil: error:", "error log")


def wait_in_file(path, pattern, timeout=30.0):
    """Polls path (bounded) until it has a line matching pattern; the match."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, path.read_text()) if path.exists() else None
        if m:
            return m
        time.sleep(0.02)
    raise AssertionError(f"no {pattern!r} in {path}")


def test_error_log_takes_the_server_lines_and_the_apps_stderr(tmp_path):
    log = tmp_path / "error.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([PACKAGE_DIR, TESTS]))
    p = subprocess.Popen([SERVER_PYTHON, "-m", "anvil", "--bind", "127.0.0.1:0", "--error-log", str(log),
                          "apps.procs:app"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, cwd=TESTS)
    try:
        port = int(wait_in_file(log, r"anvil: listening on http://127\.0\.0\.1:(\d+)").group(1))
        worker = int(wait_in_file(log, r"anvil: worker (\d+) started").group(1))
        import http.client

        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/")
        assert int(c.getresponse().read()) == worker
        c.close()
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
        assert p.stderr.read() == b""
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_error_log_dash_is_stderr(start_server):
    s = start_server("apps.hello:app", "--error-log", "-")
    assert get(s, "/").status == 200


def test_access_log_format(start_server, tmp_path):
    log = tmp_path / "access.log"
    fmt = "%(h)s|%(u)s|%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(b)s|%(a)s|%(p)s|%({x-test}i)s|%(D)s|%%"
    s = start_server("apps.procs:app", "--access-log", str(log), "--access-log-format", fmt)
    [worker] = s.worker_pids(1)
    auth = base64.b64encode(b"alice:pw").decode()
    get(s, "/a%20b?x=1", headers=[("User-Agent", "ua"), ("X-Test", 'v"q'), ("Authorization", f"Basic {auth}")])
    assert s.stop() == 0
    [line] = log.read_text().splitlines()
    f = line.split("|")
    body = str(worker)
    assert f[:12] == ["127.0.0.1", "alice", "GET", "/a%20b", "x=1", "HTTP/1.1", "200", str(len(body)), "ua",
                      f"<{worker}>", 'v\\"q', f[11]] and int(f[11]) > 0 and f[12] == "%", line
