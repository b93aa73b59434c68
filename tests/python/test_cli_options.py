"""The options that say where the app comes from and when it is imported
(`--chdir`, `--pythonpath`, `-c/--config`, `--preload`), the current
directory on sys.path, and `--version` (issue 10, section 1 and 2)."""

import os
import re
import signal
import subprocess
import textwrap

import pytest

from support import IS_PYPY, PACKAGE_DIR, ROOT, SERVER_PYTHON, TESTS, get

HELLO = textwrap.dedent("""\
    def app(environ, start_response):
        body = {body!r}
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    """)


def write_app(directory, module, body):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{module}.py").write_text(HELLO.format(body=body))


def run_cli(*args, cwd=TESTS, timeout=60, env=None):
    environ = dict(os.environ, PYTHONPATH=PACKAGE_DIR)
    environ.update(env or {})
    return subprocess.run([SERVER_PYTHON, "-m", "anvil", *args], capture_output=True, text=True,
                          timeout=timeout, env=environ, cwd=cwd)


def errors(stderr):
    return [line for line in stderr.splitlines() if line.startswith("anvil: error:")]


def test_version_names_interpreter_parsers_and_wsgi_path():
    r = run_cli("--version", env={"ANVIL_WSGI_PATH": ""})  # make test-python sets it for two runs
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    with open(os.path.join(ROOT, "python", "anvil", "__init__.py")) as f:
        version = re.search(r'^__version__ = "(.+)"$', f.read(), re.M).group(1)
    assert lines[0] == f"anvil {version}"
    impl = "PyPy" if IS_PYPY else "CPython"
    assert lines[1].startswith(f"interpreter: {impl} 3.") and lines[1].endswith(f"({SERVER_PYTHON})"), lines
    assert lines[2] == "parsers: llhttp, fast, http-parser"
    default = "cffi" if IS_PYPY else "capi"
    assert lines[3].startswith(f"WSGI path: {default} (the default for {impl}"), lines


@pytest.mark.parametrize("forced", ["python", "capi", "cffi"])
def test_version_names_forced_wsgi_path(forced):
    r = run_cli("--version", env={"ANVIL_WSGI_PATH": forced})
    assert r.stdout.splitlines()[3] == f"WSGI path: {forced} (ANVIL_WSGI_PATH)"


def test_help_lists_the_code_options():
    r = run_cli("--help")
    assert r.returncode == 0
    for flag in ("-c FILE, --config FILE", "--chdir DIR", "--pythonpath DIRS", "--preload", "--version"):
        assert flag in r.stdout, flag
    assert r.stdout.startswith("usage: anvil ")


@pytest.mark.parametrize("args,needle", [
    (["--chdir", "no-such-dir", "apps.hello:app"], "--chdir no-such-dir: No such file or directory"),
    (["--chdir", "apps/hello.py", "apps.hello:app"], "--chdir apps/hello.py: Not a directory"),
    (["--pythonpath", "", "apps.hello:app"], "--pythonpath: an empty directory name"),
    (["--pythonpath", "apps,,apps", "apps.hello:app"], "--pythonpath: an empty directory name"),
    (["--pythonpath", "apps,no-such-dir", "apps.hello:app"], "--pythonpath: not a directory: no-such-dir"),
    (["--config", "no-such-file.py", "apps.hello:app"], "--config no-such-file.py: No such file"),
    (["--config"], "--config: expected one argument"),
    (["--preload=yes", "apps.hello:app"], "--preload: ignored explicit argument"),
    ([":app"], "not MODULE:CALLABLE: ':app'"),
    (["apps hello:app"], "not MODULE:CALLABLE"),
    (["apps.hello:app()"], "not MODULE:CALLABLE"),
])
def test_bad_code_options_one_line_exit_2(args, needle):
    r = run_cli(*args)
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("anvil: error:") and needle in lines[0], r.stderr


@pytest.mark.parametrize("config,needle", [
    ("no_such_setting = 1\n", "unknown setting 'no_such_setting'"),
    ("def post_fork(server, worker):\n    pass\n", "unknown setting 'post_fork'"),
    ("config = 'other.py'\n", "unknown setting 'config'"),
    ("workers = \n", "SyntaxError"),
    ("raise RuntimeError('broken\\nconfig')\n", "RuntimeError: broken config"),
    ("stats = 'yes'\n", "stats: not True or False: 'yes'"),
    ("bind = 8000\n", "bind: not a string or a list of strings: 8000"),
    ("bind = ['127.0.0.1:0', 1]\n", "bind: not a string or a list of strings"),
    ("workers = [2]\n", "workers: not a string or a number: [2]"),
    ("workers = True\n", "workers: not a string or a number: True"),
    ("parser = 'slow'\n", "parser: not one of llhttp, fast, http-parser: 'slow'"),
    ("workers = 'x'\n", "--workers: not a number"),  # checked by the server's own rules
    ("keepalive = -1\n", "--keepalive"),
    ("chdir = 'no-such-dir'\n", "--chdir no-such-dir: No such file or directory"),
])
def test_bad_config_one_line_exit_2(tmp_path, config, needle):
    cfg = tmp_path / "conf.py"
    cfg.write_text(config)
    r = run_cli("-c", str(cfg), "apps.hello:app")
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("anvil: error:") and needle in lines[0], r.stderr


def test_config_sets_options_with_anvil_and_gunicorn_names(start_server, tmp_path):
    log = tmp_path / "access.log"
    cfg = tmp_path / "conf.py"
    cfg.write_text(textwrap.dedent(f"""\
        import multiprocessing            # modules and imported helpers are not settings
        from os import cpu_count

        bind = ["127.0.0.1:0", "127.0.0.1:0"]
        workers = 2
        parser = "llhttp"
        accesslog = {str(log)!r}          # gunicorn's name for access_log
        preload_app = True                # gunicorn's name for --preload
        wsgi_app = "apps.import_pid:app"  # gunicorn's name for the app
        _private = "ignored"
        """))
    s = start_server(None, "-c", str(cfg), binds=(), listeners=2)
    assert len(set(s.urls)) == 2
    assert len(s.worker_pids(2)) == 2
    imported_in, _ = get(s, "/").body.decode().split()
    assert int(imported_in) == s.proc.pid  # preloaded in the master
    assert s.stop() == 0
    assert '"GET / HTTP/1.1" 200' in log.read_text()


def test_command_line_overrides_config(start_server, tmp_path):
    cfg = tmp_path / "conf.py"
    cfg.write_text("bind = 'unix:/nonexistent/dir/s.sock'\nworkers = 3\npreload = True\n")
    s = start_server("apps.import_pid:app", "--config", str(cfg), "--workers", "1")
    s.worker_pids(1)
    assert len(s.children()) == 1
    assert s.urls[0].startswith("http://127.0.0.1:")  # --bind replaced the file's bind
    imported_in, _ = get(s, "/").body.decode().split()
    assert int(imported_in) == s.proc.pid  # the file's preload still applies


def test_config_relative_to_current_directory(start_server, tmp_path):
    # The file's own names, and --chdir/--pythonpath given in it, work the
    # same as on the command line.
    write_app(tmp_path / "code", "confapp", b"from the config's pythonpath")
    cfg = tmp_path / "conf.py"
    cfg.write_text(f"chdir = {str(tmp_path)!r}\npythonpath = 'code'\n")
    s = start_server("confapp:app", "-c", str(cfg))
    assert get(s, "/").body == b"from the config's pythonpath"


@pytest.mark.parametrize("preload", [False, True])
def test_preload_decides_which_process_imports(start_server, preload):
    s = start_server("apps.import_pid:app", "--workers", "2", *(["--preload"] if preload else []))
    workers = s.worker_pids(2)
    seen = set()
    for _ in range(20):
        imported_in, served_by = map(int, get(s, "/").body.decode().split())
        assert served_by in workers
        seen.add(served_by)
        if preload:
            assert imported_in == s.proc.pid
        else:
            assert imported_in == served_by
        if len(seen) == 2:
            break


def import_error(tmp_path, spec, *args):
    (tmp_path / "broken.py").write_text("import no_such_dependency\n")
    (tmp_path / "raises.py").write_text("raise ValueError('at import time')\n")
    (tmp_path / "fine.py").write_text("NOT_CALLABLE = 1\ndef app(e, s):\n    return []\n")
    r = run_cli("--bind", "127.0.0.1:0", *args, spec, cwd=tmp_path, timeout=60)
    assert r.returncode == 1, r
    assert "starting another" not in r.stderr and "worker" not in r.stderr, r.stderr
    return errors(r.stderr)


@pytest.mark.parametrize("args", [
    ["--workers", "1"],
    ["--workers", "3"],
    ["--workers", "3", "--preload"],
    ["--workers", "0"],
])
def test_import_error_one_line_exit_1_whoever_imports(tmp_path, args):
    # Whoever imports the app (the master, or every worker), the server
    # stops: one line, exit status 1, no worker restarted.
    # The line names where the app's code failed: the traceback's last frame.
    assert import_error(tmp_path, "raises:app", *args) == [
        f"anvil: error: cannot import 'raises': ValueError: at import time (at {tmp_path}/raises.py:1)"]


@pytest.mark.parametrize("args", [["--workers", "2"], ["--workers", "0"]])
def test_import_error_whole_traceback_at_log_level_debug(tmp_path, args):
    (tmp_path / "deep.py").write_text("def f():\n    raise ValueError('deep down')\n\nf()\n")
    r = run_cli("--bind", "127.0.0.1:0", "--log-level", "debug", *args, "deep:app", cwd=tmp_path)
    assert r.returncode == 1, r
    assert "Traceback (most recent call last)" in r.stderr, r.stderr
    assert f'File "{tmp_path}/deep.py", line 4' in r.stderr
    assert errors(r.stderr) == [
        f"anvil: error: cannot import 'deep': ValueError: deep down (at {tmp_path}/deep.py:2)"]
    # Without debug: the one line only.
    r = run_cli("--bind", "127.0.0.1:0", *args, "deep:app", cwd=tmp_path)
    assert "Traceback" not in r.stderr and len(errors(r.stderr)) == 1, r.stderr


@pytest.mark.parametrize("spec,message", [
    ("broken:app", "cannot import 'broken': ModuleNotFoundError: No module named 'no_such_dependency'"
                   " (at {tmp_path}/broken.py:1)"),
    ("nothing:app", "cannot import 'nothing': ModuleNotFoundError: No module named 'nothing'"),
    ("fine:missing", "module 'fine' has no attribute 'missing'"),
    ("fine", "module 'fine' has no attribute 'application'"),
    ("fine:NOT_CALLABLE", "'fine:NOT_CALLABLE' is not callable"),
])
def test_each_import_error_names_its_cause(tmp_path, spec, message):
    message = message.format(tmp_path=tmp_path)
    assert import_error(tmp_path, spec, "--workers", "2") == [f"anvil: error: {message}"]


def test_worker_that_fails_later_stops_the_server(start_server, tmp_path):
    # SIGHUP re-imports the app in new workers (without --preload): an app
    # broken since start-up stops the server as at start, no restart loop.
    (tmp_path / "hupapp.py").write_text(HELLO.format(body=b"v1"))
    s = start_server("hupapp:app", "--workers", "1", cwd=tmp_path)
    s.worker_pids(1)
    assert get(s, "/").body == b"v1"
    (tmp_path / "hupapp.py").write_text("import no_such_dependency\n")
    for cached in (tmp_path / "__pycache__").glob("hupapp*"):
        cached.unlink()
    s.signal(signal.SIGHUP)
    s.proc.wait(timeout=60)
    assert s.stop() == 1
    assert errors(s.log) == [
        "anvil: error: cannot import 'hupapp': ModuleNotFoundError: No module named 'no_such_dependency'"
        f" (at {tmp_path}/hupapp.py:1)"], s.log


def test_chdir_finds_the_app_there(start_server, tmp_path):
    write_app(tmp_path / "site", "chdirapp", b"from --chdir")
    s = start_server("chdirapp:app", "--chdir", str(tmp_path / "site"), cwd=TESTS)
    assert get(s, "/").body == b"from --chdir"


def test_pythonpath_dirs_searched_in_order(start_server, tmp_path):
    write_app(tmp_path / "a", "pathapp", b"from a")
    write_app(tmp_path / "b", "pathapp", b"from b")
    write_app(tmp_path / "b", "onlyb", b"only in b")
    s = start_server("pathapp:app", "--pythonpath", f"{tmp_path / 'a'},{tmp_path / 'b'}")
    assert get(s, "/").body == b"from a"
    s = start_server("onlyb:app", "--pythonpath", f"{tmp_path / 'a'},{tmp_path / 'b'}")
    assert get(s, "/").body == b"only in b"


def test_pythonpath_relative_to_chdir(start_server, tmp_path):
    write_app(tmp_path / "site" / "lib", "relapp", b"relative to --chdir")
    s = start_server("relapp:app", "--chdir", str(tmp_path / "site"), "--pythonpath", "lib")
    assert get(s, "/").body == b"relative to --chdir"


def test_current_directory_is_on_sys_path(start_server, tmp_path):
    # As the installed `anvil` script runs: sys.path[0] is the script's own
    # folder, not the current one; the app must still be found where the
    # operator stands (as gunicorn does).
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "anvil"
    script.write_text("import sys\nfrom anvil.cli import main\nsys.exit(main())\n")
    write_app(tmp_path / "here", "hereapp", b"from the current directory")
    s = start_server("hereapp:app", cwd=tmp_path / "here", command=[SERVER_PYTHON, str(script)],
                     env={"PYTHONPATH": PACKAGE_DIR})
    assert get(s, "/").body == b"from the current directory"



def test_serve_load_app_runs_in_each_worker_and_an_error_stops_the_master():
    # anvil.serve(None, load_app=f): what the command does without --preload.
    script = textwrap.dedent("""\
        import anvil, sys
        def load():
            raise RuntimeError("no app today")
        sys.exit(anvil.serve(None, bind="127.0.0.1:0", workers=2, load_app=load))
        """)
    env = dict(os.environ, PYTHONPATH=PACKAGE_DIR)
    r = subprocess.run([SERVER_PYTHON, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 3, r
    assert "failed to boot: load_app: RuntimeError: no app today" in r.stderr, r.stderr
    assert "starting another" not in r.stderr, r.stderr


@pytest.mark.parametrize("call,needle", [
    ("anvil.serve(lambda e, s: [], load_app=lambda: None)", "either an app or load_app"),
    ("anvil.serve(None, load_app=1)", "load_app must be callable"),
])
def test_serve_load_app_misuse(call, needle):
    env = dict(os.environ, PYTHONPATH=PACKAGE_DIR)
    r = subprocess.run([SERVER_PYTHON, "-c", f"import anvil; {call}"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode != 0 and needle in r.stderr, r.stderr
