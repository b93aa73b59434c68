"""`python -m anvil` as a command: arguments, errors, the Python API, --native, --stats."""

import os
import signal
import subprocess

import pytest

from support import ROOT, SERVER_PYTHON, TESTS, get, request


def run_cli(*args, timeout=30):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "python"), TESTS]))
    return subprocess.run([SERVER_PYTHON, "-m", "anvil", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=TESTS)


def test_help_lists_every_option():
    r = run_cli("--help")
    assert r.returncode == 0
    for flag in ("--bind", "--workers", "--threads", "--parser", "--backlog", "--keepalive", "--timeout",
                 "--graceful-timeout", "--limit-request-line", "--limit-request-fields",
                 "--limit-request-field-size", "--max-body-size", "--access-log", "--log-level",
                 "--native", "--stats"):
        assert flag in r.stdout, flag


@pytest.mark.parametrize("args,needle", [
    (["--workers", "x", "apps.hello:app"], "--workers"),
    (["--parser", "slow", "apps.hello:app"], "--parser"),
    (["--bind", "nonsense", "apps.hello:app"], "--bind"),
    (["--no-such-option", "apps.hello:app"], "--no-such-option"),
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
    assert r.returncode == 1
    assert r.stderr.startswith("anvil: error: cannot start:") and "No such file" in r.stderr
    assert r.stderr.count("\n") == 1, r.stderr


def test_unwritable_access_log_exits_1(tmp_path):
    # Each worker opens the log: a bad path must be one error at start, not
    # workers that die and are restarted forever.
    r = run_cli("--bind", "127.0.0.1:0", "--access-log", str(tmp_path / "no-dir" / "a.log"),
                "apps.hello:app", timeout=15)
    assert r.returncode == 1
    assert r.stderr.startswith("anvil: error:") and "access log" in r.stderr
    assert r.stderr.count("\n") == 1, r.stderr


@pytest.mark.parametrize("parser", ["llhttp", "fast"])
def test_both_parsers_serve(start_server, parser):
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
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
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
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    r = subprocess.run([SERVER_PYTHON, "-c", script], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode != 0 and "no_such_option" in r.stderr
