"""ANVIL_WSGI_PATH picks how a request crosses into Python: `capi` (environ built
in C++, CPython's default), `python` (one packed cpyext call, environ built in
Python) or `cffi` (the core's C ABI through cffi into the same Python
transaction, PyPy's default); the rest of the suite runs on each via `make test`."""

import os
import subprocess

import pytest

from support import IS_PYPY, PACKAGE_DIR, SERVER_PYTHON, TESTS, get


# What apps.input_type answers on each path (for a request without a body).
SEEN = {"capi": ("anvil._core.Input", "core"), "python": ("anvil._pywsgi.Input", "core"),
        "cffi": ("anvil._pywsgi.Input", "cffi")}


def served_by(body):
    return tuple(body.decode().split())


@pytest.mark.parametrize("path", ["python", "capi", "cffi"])
def test_forced_path_is_used(start_server, path):
    s = start_server("apps.input_type:app", env={"ANVIL_WSGI_PATH": path})
    r = get(s, "/")
    assert r.status == 200
    assert served_by(r.body) == SEEN[path], r.body


def test_default_path_follows_the_interpreter(start_server):
    if os.environ.get("ANVIL_WSGI_PATH"):
        pytest.skip("ANVIL_WSGI_PATH is set for this run")
    s = start_server("apps.input_type:app")
    r = get(s, "/")
    assert r.status == 200
    assert served_by(r.body) == SEEN["cffi" if IS_PYPY else "capi"], r.body


def test_bad_value_is_a_one_line_error():
    env = dict(os.environ, ANVIL_WSGI_PATH="fast",
               PYTHONPATH=os.pathsep.join([PACKAGE_DIR, TESTS]))
    r = subprocess.run([SERVER_PYTHON, "-m", "anvil", "--bind", "127.0.0.1:0", "apps.hello:app"],
                       capture_output=True, text=True, timeout=30, env=env, cwd=TESTS)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "ANVIL_WSGI_PATH" in lines[0], r.stderr
