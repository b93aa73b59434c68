"""The apps benchmark's matrix: the apps (the request each gets, how its
answer is checked) and the servers (how each starts, on which runtimes it
runs, and why not where it cannot).

Every server loads served:application (bench/apps/served.py), which picks
the app from ANVIL_BENCH_APP and wraps it in the timing wrapper.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from measure import servers as launch  # noqa: E402

RUNTIMES = {"cpython": "/usr/bin/python3", "pypy": "/usr/bin/pypy3"}
RUNTIME_LABELS = {"cpython": "CPython 3.11", "pypy": "PyPy 3.9"}
ENTRY = "served:application"
THREADS = 4  # the threaded settings: anvil --threads, gunicorn gthread, waitress's default


# --- the apps ----------------------------------------------------------------------

CHROME = ROOT / "bench" / "requests" / "chrome-2013.http"


def request_bytes(method, target, body=b"", content_type=None):
    """chrome-2013's request (its fields, its `Connection: close`) with this
    method and target, and the body with its Content-Type and Content-Length."""
    head = CHROME.read_bytes().split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    lines = [f"{method} {target} HTTP/1.1".encode()] + head[1:]
    if body:
        lines += [f"Content-Type: {content_type}".encode(), f"Content-Length: {len(body)}".encode()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _json(response):
    ctype = response.header("content-type") or ""
    assert ctype.startswith("application/json"), f"Content-Type {ctype!r}, not JSON"
    try:
        return json.loads(response.body)
    except ValueError as e:
        raise AssertionError(f"the body is not JSON: {e}") from None


def check_hello(r):
    assert r.body == b"Hello, World!", f"body {r.body[:40]!r}"


def check_flask(r):
    doc = _json(r)
    assert doc.get("status") == "accepted", f"status field {doc.get('status')!r}"
    assert len(doc.get("lines", [])) == 6, "not the order's 6 lines"
    assert doc["totals"]["total"] > 0, "no total"
    assert 1500 <= len(r.body) <= 2600, f"{len(r.body)} bytes, not about 2 KB"


def check_django(r):
    ctype = r.header("content-type") or ""
    assert ctype.startswith("text/html"), f"Content-Type {ctype!r}"
    rows = r.body.count(b'<tr class="product')
    assert rows == 20, f"{rows} product rows, not 20"
    assert b"csrfmiddlewaretoken" in r.body, "no CSRF token in the form (middleware missing?)"


def check_falcon(r):
    doc = _json(r)
    assert doc.get("total") == 19 and doc.get("limit") == 10, f"total/limit {doc.get('total')}"
    assert len(doc.get("items", [])) == 10, "not 10 items"
    assert all(it["category"] == "pens" and it["price"] >= 10 for it in doc["items"]), \
        "the query string's filter was not applied"


def check_status_only(r):
    pass


class App:
    """One app: the request the benchmark sends, the status it must answer
    with and check(response) of its body; bad_request / bad_status: a request
    it must refuse (its validation is live)."""

    def __init__(self, key, label, request, status, check, bad_request=None, bad_status=None,
                 note=""):
        self.key = key
        self.label = label
        self.request = request
        self.status = status
        self.check = check
        self.bad_request = bad_request
        self.bad_status = bad_status
        self.note = note


def _flask_body():
    sys.path.insert(0, str(HERE))
    import flask_app  # noqa: E402  only for its request body; imported in the harness once
    return flask_app.REQUEST_BODY


def apps():
    falcon_target = "/items?category=pens&min_price=10&sort=price&limit=10&offset=2"
    return [
        App("hello", "hello (the floor)", request_bytes("GET", "/"), 200, check_hello,
            note="13 bytes, Content-Length set"),
        App("flask", "Flask JSON API", request_bytes("POST", "/api/orders", _flask_body(),
                                                     "application/json"),
            201, check_flask,
            bad_request=request_bytes("POST", "/api/orders", b'{"items": 3}', "application/json"),
            bad_status=422, note="POST 661 B of JSON, validated; answers 2 KB of JSON"),
        App("django", "Django 3.2 template + ORM", request_bytes("GET", "/products/"), 200,
            check_django, bad_request=request_bytes("GET", "/products/999999/"), bad_status=404,
            note="default project middleware; 20 rows from SQLite through a template loop"),
        App("falcon", "Falcon query string", request_bytes("GET", falcon_target), 200,
            check_falcon, bad_request=request_bytes("GET", "/items?limit=abc"), bad_status=400,
            note="5 query parameters parsed and validated; 842 B of JSON"),
    ]


# --- the servers ---------------------------------------------------------------------

NO_PYPY_UWSGI = "Debian's uWSGI has no PyPy plugin (only python3)"


class Server:
    """One server: start(python) -> a ServerSpec serving ENTRY; runtimes it is
    measured on; unavailable: runtime -> why it cannot run there."""

    def __init__(self, key, label, runtimes, start, unavailable=None, note=""):
        self.key = key
        self.label = label
        self.runtimes = runtimes
        self.start = start
        self.unavailable = unavailable or {}
        self.note = note


def _launched(name):
    return lambda py: launch.launched(py, name, ENTRY)


SERVERS = [
    Server("anvil", "anvil --threads 1", ["cpython", "pypy"],
           lambda py: launch.anvil(py, ENTRY, workers=1, threads=1),
           note="master + 1 worker; the app on the loop thread"),
    Server("anvil-threads", f"anvil --threads {THREADS}", ["cpython", "pypy"],
           lambda py: launch.anvil(py, ENTRY, workers=1, threads=THREADS),
           note=f"master + 1 worker; the loop thread parses, {THREADS} Python threads run the app"),
    Server("gunicorn-sync", "gunicorn sync", ["cpython", "pypy"],
           lambda py: launch.gunicorn(py, ENTRY, worker_class="sync"), note="master + 1 worker"),
    Server("gunicorn-gthread", f"gunicorn gthread ({THREADS} threads)", ["cpython", "pypy"],
           lambda py: launch.gunicorn(py, ENTRY, worker_class="gthread", threads=THREADS),
           note="master + 1 worker"),
    Server("uwsgi", "uWSGI --http-socket", ["cpython", "pypy"],
           lambda py: launch.uwsgi(HERE / "served.py", "application"),
           unavailable={"pypy": NO_PYPY_UWSGI}, note="1 process, embedded CPython"),
    Server("waitress", f"waitress ({THREADS} threads)", ["cpython", "pypy"],
           lambda py: launch.waitress(py, ENTRY, threads=THREADS)),
    # On PyPy, also the pure-Python servers that run there (the survey's).
    Server("refserver", "anvil.refserver (pure Python)", ["pypy"],
           lambda py: launch.refserver(py, ENTRY, parser="python"),
           note="anvil's pure-Python reference server, Python parser"),
    Server("cheroot", "cheroot", ["pypy"], _launched("cheroot"),
           note="10 threads, listen backlog 5 (defaults)"),
    Server("tornado", "tornado (WSGIContainer)", ["pypy"], _launched("tornado"),
           note="the app on the IOLoop thread; DJANGO_ALLOW_ASYNC_UNSAFE set, as Django "
                "needs there"),
    Server("eventlet", "eventlet.wsgi", ["pypy"], _launched("eventlet")),
    Server("gevent", "gevent.pywsgi", ["pypy"], _launched("gevent"),
           note="the survey found its loops CPython-only: tried, and reported if it fails"),
    Server("twisted", "twisted.web", ["pypy"], lambda py: launch.twisted(py, ENTRY),
           note="its access log cannot be turned off: /dev/null"),
    Server("wsgiref", "wsgiref", ["pypy"], _launched("wsgiref"),
           note="one connection at a time, listen backlog 5: dropped SYNs under 40 connections"),
]

BY_KEY = {s.key: s for s in SERVERS}
