"""The survey's server matrix: every server, on which runtimes it runs, and
how to start it (a bench/measure ServerSpec, from its command-line builders).

Each server serves bench/apps/hello.py (13-byte body, Content-Length set),
in one process unless noted (gunicorn's model is a master and one worker),
with its per-request access log off where it has an option for it.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
APPS = ROOT / "bench" / "apps"  # hello.py
sys.path.insert(0, str(ROOT / "bench"))

from measure import servers as launch  # noqa: E402

RUNTIMES = {"cpython": "/usr/bin/python3", "pypy": "/usr/bin/pypy3"}
RUNTIME_LABELS = {"cpython": "CPython 3.11", "pypy": "PyPy 3.9", "native": "no Python"}
HOST = "127.0.0.1"

# The Debian packages of the peers (installed by the driver with .ci/deps.sh).
PEER_PACKAGES = [
    "python3-tornado", "python3-twisted", "python3-gevent", "python3-eventlet",
    "python3-cheroot", "apache2", "uwsgi", "uwsgi-plugin-python3", "gunicorn",
    "python3-waitress", "nginx-light", "python3-matplotlib", "python3-uvicorn",
    "python3-uvloop", "python3-httptools", "python3-h11", "python3-hypercorn",
]

# The 2013 survey's figures (requests/s, CPython 2.7 / PyPy 2.0), keyed by our
# server keys; cyclone has no Debian package and is only listed.
SURVEY_2013 = {
    "twisted": (2300, 8300),
    "cyclone": (2400, 7400),
    "tornado": (3200, 7600),
    "gunicorn-sync": (3700, 6900),
    "gevent": (4100, 6400),
    "eventlet": (3200, 6700),
}

# What was checked behind some of the figures (by hand, on a raw socket or in
# the servers' sources), printed under the results when the server is in them.
KNOWN = {
    "wsgiref": "listens with a backlog of 5 (socketserver's `request_queue_size`) and serves one "
               "connection at a time: with 40 concurrent connections the kernel drops SYNs, which "
               "the client resends after 1 s, 3 s...: hence the p99 of seconds and the read "
               "timeouts (10 s). It answers HTTP/1.0 and closes every connection.",
    "cheroot": "listens with a backlog of 5 (`request_queue_size`) for 10 threads: the same dropped "
               "SYNs as wsgiref. To an HTTP/1.0 request with `Connection: keep-alive` (keep-alive, "
               "ab) it answers `HTTP/1.1` without a Connection field, then closes: the client, "
               "entitled by RFC 9112 §9.3 to reuse the connection, meets a reset (errors).",
    "uwsgi": "`--http-socket` has no keep-alive: it answers HTTP/1.1 requests with `HTTP/1.1` and no "
             "`Connection: close`, then closes; a client that reuses the connection meets a reset "
             "(the errors of the keep-alive workloads; the survey used new connections).",
    "gevent": "on PyPy: Debian's python3-gevent ships its libuv/libev loops as CPython extension "
              "modules only (`ImportError: cannot import name '_corecffi'`).",
    "twisted": "`twist web --wsgi` runs the app in the reactor's thread pool and logs every request "
               "(here to /dev/null, the cheapest place it allows).",
    "gunicorn-sync": "the sync worker has no keep-alive: it answers `Connection: close` and closes.",
    "uvicorn": "`--interface wsgi`: uvicorn's WSGIMiddleware runs the app in a pool of 10 "
               "threads and hands the response back to the loop; the same in all four "
               "combinations of loop and parser.",
    "uvicorn-asgi": "the same hello response from an ASGI app (`bench/apps/hello.py`'s `asgi`, "
                    "`--interface asgi3`): uvicorn with uvloop and httptools minus this is "
                    "what its WSGI adapter costs per request.",
    "hypercorn": "0.13 serves ASGI only: its own AsyncioWSGIMiddleware runs the app in the "
                 "asyncio loop's default thread pool; h11 parses (no C parser option).",
    "apache": "event MPM in one process (`-X`): under load it closes idle keep-alive connections "
              "early (its connection limits), which a client reusing them sees as resets.",
}

NOT_AVAILABLE = {
    "cyclone": "no Debian package (the survey measured it; not installable here without the network)",
}


class Server:
    """One server of the matrix.

    start(python, build_dir) gives its ServerSpec (python is None for servers
    with no Python). unavailable maps a runtime to the reason it cannot run
    there (listed in the tables, never silently left out).
    """

    def __init__(self, key, label, runtimes, start, group="python", ladder=None, stats=False,
                 unavailable=None, note="", requires=(), uvicorn=None):
        self.key = key
        self.label = label
        self.runtimes = runtimes
        self.start = start
        self.group = group
        self.ladder = ladder  # (step number, description) on the cost ladder
        self.stats = stats    # prints anvil's --stats line at exit
        self.unavailable = unavailable or {}
        self.note = note
        self.requires = list(requires)  # modules the runtime must import
        self.uvicorn = uvicorn  # (loop, http) of the uvicorn matrix
        self._import_errors = {}

    def unavailable_on(self, runtime):
        """Why the server cannot run on runtime, or None: the reason given, or
        the error of importing its modules there (checked once)."""
        if self.unavailable.get(runtime):
            return self.unavailable[runtime]
        if not self.requires or runtime not in RUNTIMES:
            return None
        if runtime not in self._import_errors:
            error = launch.import_error(RUNTIMES[runtime], self.requires)
            self._import_errors[runtime] = error and (
                f"`import {', '.join(self.requires)}` fails on {RUNTIME_LABELS[runtime]}: "
                f"{error}")
        return self._import_errors[runtime]

    def spec(self, runtime, build_dir, python_dir=None):
        spec = self.start(RUNTIMES.get(runtime), build_dir)
        spec.name = f"{self.key}-{runtime}"
        spec.env.update(server_env(python_dir))
        spec.cwd = str(APPS)
        spec.note = self.note
        return spec


def server_env(python_dir=None):
    """The anvil package (python_dir: a snapshot of python/) and the hello app
    importable; no .pyc files written into the tree."""
    paths = [str(python_dir or ROOT / "python"), str(APPS)]
    old = os.environ.get("PYTHONPATH")
    if old:
        paths.append(old)
    return {"PYTHONPATH": os.pathsep.join(paths), "PYTHONDONTWRITEBYTECODE": "1"}


def _launch(name):
    return lambda py, build: launch.launched(py, name, "hello:app")


def _anvil(parser):
    return lambda py, build: launch.anvil(py, "hello:app", workers=0, parser=parser, stats=True)


def _anvil_path(parser, path):
    """anvil WSGI on a forced WSGI path (ANVIL_WSGI_PATH), beside the
    interpreter's default one: the cffi path's baseline in the same run."""
    def start(py, build):
        spec = launch.anvil(py, "hello:app", workers=0, parser=parser, stats=True)
        spec.env["ANVIL_WSGI_PATH"] = path
        return spec
    return start


def _refserver(parser):
    return lambda py, build: launch.refserver(py, "hello:app", parser=parser)


def _uvicorn(loop, http):
    return lambda py, build: launch.uvicorn(py, "hello:app", loop=loop, http=http)


# uvicorn's loop x parser matrix: the survey's two factors in a server that
# is not anvil (issue 14). A C extension that does not import on a runtime
# (Debian builds uvloop and httptools for CPython only) makes that
# combination "not available" there, with the import error as the reason.
UVICORN = [(loop, http) for loop in ("uvloop", "asyncio") for http in ("httptools", "h11")]
UVICORN_LABELS = {"uvloop": "uvloop (C loop)", "asyncio": "asyncio (Python loop)",
                  "httptools": "httptools (C parser)", "h11": "h11 (Python parser)"}


def uvicorn_key(loop, http):
    return f"uvicorn-{loop}-{http}"


def _apache_setup(workdir, port):
    www = os.path.join(workdir, "www")
    os.makedirs(www)
    with open(os.path.join(www, "index.html"), "wb") as f:
        f.write(b"Hello, World!")
    os.chmod(workdir, 0o755)  # mkdtemp's 0700 would hide the document root from www-data
    mods = "/usr/lib/apache2/modules"
    conf = os.path.join(workdir, "apache2.conf")
    with open(conf, "w") as f:
        f.write(f"""# Debian's apache2 serving a static 13-byte file (the survey's own
# reference), one process (-X), event MPM, no access log.
ServerRoot {workdir}
ServerName localhost
LoadModule mpm_event_module {mods}/mod_mpm_event.so
LoadModule authz_core_module {mods}/mod_authz_core.so
LoadModule dir_module {mods}/mod_dir.so
User www-data
Group www-data
PidFile {workdir}/apache2.pid
Mutex file:{workdir} default
ErrorLog {workdir}/error.log
LogLevel warn
Listen {HOST}:{port}
ListenBacklog 2048
KeepAlive On
MaxKeepAliveRequests 0
DocumentRoot {www}
DirectoryIndex index.html
<Directory {www}>
    Require all granted
</Directory>
""")
    return {"conf": conf}


def _apache(py, build):
    return launch.ServerSpec("apache", ["apache2", "-X", "-f", "{conf}", "-DFOREGROUND"],
                             setup=_apache_setup)


SERVERS = [
    Server("wsgiref", "wsgiref", ["cpython", "pypy"], _launch("wsgiref"),
           note="standard library: one thread, listen backlog 5 (socketserver's default)"),
    Server("gunicorn-sync", "gunicorn sync", ["cpython", "pypy"],
           lambda py, build: launch.gunicorn(py, "hello:app", worker_class="sync"),
           note="master + 1 worker"),
    Server("gunicorn-gthread", "gunicorn gthread", ["cpython", "pypy"],
           lambda py, build: launch.gunicorn(py, "hello:app", worker_class="gthread", threads=4),
           note="master + 1 worker, 4 threads"),
    Server("waitress", "waitress", ["cpython", "pypy"],
           lambda py, build: launch.waitress(py, "hello:app"), note="4 threads (default)"),
    Server("tornado", "tornado (WSGIContainer)", ["cpython", "pypy"], _launch("tornado")),
    Server("twisted", "twisted.web", ["cpython", "pypy"],
           lambda py, build: launch.twisted(py, "hello:app"),
           note="`twist web --wsgi`; its access log cannot be turned off, so /dev/null"),
    Server("cyclone", "cyclone", ["cpython", "pypy"], None,
           unavailable={"cpython": NOT_AVAILABLE["cyclone"], "pypy": NOT_AVAILABLE["cyclone"]}),
    Server("gevent", "gevent.pywsgi", ["cpython", "pypy"], _launch("gevent")),
    Server("eventlet", "eventlet.wsgi", ["cpython", "pypy"], _launch("eventlet")),
    Server("cheroot", "cheroot", ["cpython", "pypy"], _launch("cheroot"),
           note="10 threads, listen backlog 5 (defaults)"),
    Server("uwsgi", "uWSGI --http-socket", ["cpython", "pypy"],
           lambda py, build: launch.uwsgi(APPS / "hello.py", "app"),
           unavailable={"pypy": "Debian's uWSGI has no PyPy plugin (only python3)"},
           group="python", note="1 process, embedded CPython"),
    *[Server(uvicorn_key(loop, http), f"uvicorn ({loop}, {http})", ["cpython", "pypy"],
             _uvicorn(loop, http), group="uvicorn", uvicorn=(loop, http),
             requires=["uvicorn"] + [m for m in (loop, http) if m != "asyncio"],
             note="--interface wsgi (the app in a pool of 10 threads), one process")
      for loop, http in UVICORN],
    Server("uvicorn-asgi", "uvicorn (uvloop, httptools), ASGI app", ["cpython", "pypy"],
           lambda py, build: launch.uvicorn(py, "hello:asgi", loop="uvloop", http="httptools",
                                            interface="asgi3"),
           group="uvicorn", requires=["uvicorn", "uvloop", "httptools"],
           note="the hello app as ASGI: uvicorn without its WSGI adapter"),
    Server("hypercorn", "hypercorn (asyncio, h11)", ["cpython", "pypy"], _launch("hypercorn"),
           requires=["hypercorn"], note="AsyncioWSGIMiddleware (the app in the default thread "
           "pool), one process"),
    Server("anvil-fast", "anvil WSGI (fast parser)", ["cpython", "pypy"], _anvil("fast"),
           stats=True, ladder=(3, "C++ loop + C++ parser, Python app"),
           note="--workers 0 (one process), --stats"),
    Server("anvil-llhttp", "anvil WSGI (llhttp parser)", ["cpython", "pypy"], _anvil("llhttp"),
           stats=True, ladder=(3, "C++ loop + C++ parser, Python app"),
           note="--workers 0 (one process), --stats"),
    Server("anvil-fast-python", "anvil WSGI, python path (fast parser)", ["cpython", "pypy"],
           _anvil_path("fast", "python"), stats=True,
           note="ANVIL_WSGI_PATH=python: one cpyext call per request into _pywsgi (PyPy's "
           "default before the cffi path)"),
    Server("anvil-fast-cffi", "anvil WSGI, cffi path (fast parser)", ["cpython", "pypy"],
           _anvil_path("fast", "cffi"), stats=True,
           note="ANVIL_WSGI_PATH=cffi: the core's C ABI through cffi (PyPy's default)"),
    Server("ref-python", "anvil.refserver (Python parser)", ["cpython", "pypy"],
           _refserver("python"), group="ladder", ladder=(1, "Python loop + Python parser")),
    Server("ref-fast", "anvil.refserver (fast parser)", ["cpython", "pypy"], _refserver("fast"),
           group="ladder", ladder=(2, "Python loop + C++ parser")),
    Server("ref-llhttp", "anvil.refserver (llhttp parser)", ["cpython", "pypy"],
           _refserver("llhttp"), group="ladder", ladder=(2, "Python loop + C++ parser")),
    Server("anvil-pynative", "anvil --native hello", ["cpython", "pypy"],
           lambda py, build: launch.anvil(py, workers=0, native="hello", stats=True),
           stats=True, group="ladder",
           ladder=(4, "C++ loop, native handler (no Python per request)")),
    Server("anvil-native", "anvil-native hello", ["native"],
           lambda py, build: launch.anvil_native(build, "hello", workers=0, stats=True),
           stats=True, group="ceiling", note="the C++ binary, no Python at all"),
    Server("nginx", "nginx return 200", ["native"],
           lambda py, build: launch.nginx(master=False), group="ceiling",
           note="nginx-light, 1 process, no access log"),
    Server("apache", "Apache static file", ["native"], _apache, group="ceiling",
           note="apache2 -X (one process), event MPM, 13-byte static file"),
]

BY_KEY = {s.key: s for s in SERVERS}
