"""The apps benchmark (bench/apps): the timing wrapper, the CPU split, the
knee, the rule-of-thumb verdict, each app's check (accepts the app's real
answer, rejects a wrong one), and one end-to-end run of the harness."""

import importlib
import io
import json
import os
import subprocess
import sys
import tempfile
import wsgiref.util

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APPS = os.path.join(ROOT, "bench", "apps")
sys.path.insert(0, APPS)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import matrix  # noqa: E402
import measure  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402
import served  # noqa: E402
import timing  # noqa: E402
from measure.probe import Response  # noqa: E402

HAMMER = os.path.join(ROOT, "build", "bin", "hammer")


# --- the timing wrapper -----------------------------------------------------------------

class Body:
    """A response iterable that records that it was iterated and closed."""

    def __init__(self, log):
        self.log = log

    def __iter__(self):
        self.log.append("iter")
        yield b"a"
        yield b"b"

    def close(self):
        self.log.append("close")


def test_wrap_drains_closes_and_records_each_call(tmp_path):
    log = []

    def app(environ, start_response):
        start_response("200 OK", [])
        return Body(log)

    timed = timing.wrap(app, str(tmp_path))
    for _ in range(3):
        assert timed({}, lambda *a: None) == [b"a", b"b"]
    assert log == ["iter", "close"] * 3
    got = timing.read(str(tmp_path))
    assert got["calls"] == 3 and got["ns"] > 0 and got["processes"] == 1
    assert 0 < got["clock_ns"] < 1e6


def test_wrap_records_per_process_and_read_sums_them(tmp_path):
    timed = timing.wrap(lambda e, s: [b"x"], str(tmp_path))
    timed({}, None)
    pid = os.fork()
    if pid == 0:  # a worker forked after the first request gets its own file
        try:
            timed({}, None)
            timed({}, None)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    got = timing.read(str(tmp_path))
    assert (got["calls"], got["processes"]) == (3, 2)


def test_an_app_that_raises_is_not_recorded(tmp_path):
    def app(environ, start_response):
        raise ValueError("boom")

    with pytest.raises(ValueError):
        timing.wrap(app, str(tmp_path))({}, None)
    assert timing.read(str(tmp_path))["calls"] == 0


# --- the figures ------------------------------------------------------------------------

def test_split_takes_the_wrappers_clock_reads_out_of_both_sides():
    # total 100 = app 40 + server 56 + two clock reads of 2 (one in each part)
    s = run.split(100.0, 42.0, 2.0)
    assert (s["app_us"], s["server_us"]) == (40.0, 56.0)
    assert s["server_share"] == round(56 / 96, 4)
    assert run.split(None, 1.0, 1.0)["server_share"] is None


def sweep(p99s):
    return [{"fraction": f, "offered_per_s": 100 * f, "summary": {"p99_us": {"median": p}}}
            for f, p in zip([0.1, 0.25, 0.5, 1.0, 1.2], p99s)]


@pytest.mark.parametrize("name, p99s, fraction", [
    ("every step under 10x", [100, 120, 300, 900, 990], 1.2),
    ("crosses at 100%", [100, 120, 300, 1000, 5000], 0.5),
    ("stops at the first crossing", [100, 2000, 300, 400, 500], 0.1),
])
def test_knee_is_the_highest_rate_before_p99_reaches_10x(name, p99s, fraction):
    k = report.knee(sweep(p99s))
    assert k["fraction"] == fraction, name
    assert k["limit_us"] == 1000.0


def test_a_sweep_step_where_hammers_core_is_saturated_is_marked_client_bound():
    def step(fraction, p99, rate, client_us):
        s = {"p50_us": {"median": p99 / 2}, "p99_us": {"median": p99},
             "p999_us": {"median": p99}, "requests_per_s": {"median": rate}}
        if client_us is not None:
            s["client_cpu_per_request_us"] = {"median": client_us}
        return {"fraction": fraction, "offered_per_s": rate, "errors": 0, "summary": s}

    sweep = [step(0.1, 500, 2000, 90), step(0.5, 600, 10000, 60), step(0.7, 9000, 14000, 65)]
    assert [report.client_bound(st) for st in sweep] == [False, False, True]  # 0.18, 0.6, 0.91
    assert not report.client_bound(step(0.7, 9000, 14000, None))  # not recorded: no mark
    cell = {"app": "hello", "server": "anvil", "runtime": "cpython", "status": "ok",
            "label": "anvil", "max_rate": 20000, "sweep": sweep, "knee": report.knee(sweep)}
    d = report.Data({"apps": {"hello": {}}, "runtimes": ["cpython"],
                     "servers": {"anvil": {"label": "anvil"}}, "cells": [cell]})
    row = report.latency_table(d, "hello", "cpython").splitlines()[-1]
    assert "| 10,000/s (50%) ᶜ |" in row  # the knee is crossed at the client-bound step
    assert row.count("ᶜ") == 2 and row.endswith("4.50 / 9.00 / 9.00 ᶜ |")
    d.data["apps"]["hello"]["label"] = "hello"
    assert report.client_bound_text(d).endswith(
        "(marked ᶜ in the tables): hello on anvil, CPython 3.11.")
    sweep[2]["summary"]["client_cpu_per_request_us"]["median"] = 30
    assert report.client_bound_text(d) == ""


def test_rate_connections_keep_slots_close_at_low_rates():
    assert run.rate_connections(1.0) == 1
    assert run.rate_connections(30.0) == 8  # a slot every 0.27 s on each
    assert run.rate_connections(10000.0) == run.CONNECTIONS


def cells_of(argv):
    return sorted((a.key, s.key, rt) for a, s, rt in run.plan(run.parse_args(argv)))


def test_the_quick_plan_narrows_pypy_unless_told_otherwise():
    quick = cells_of(["--quick"])
    assert [c for c in quick if c[2] == "pypy"] == [("falcon", "anvil", "pypy"),
                                                   ("hello", "anvil", "pypy")]
    assert len([c for c in quick if c[2] == "cpython"]) == 8
    assert ("django", "gunicorn-sync", "pypy") in cells_of(
        ["--quick", "--apps", "django", "--servers", "gunicorn-sync"])
    full = cells_of([])
    assert ("hello", "wsgiref", "pypy") in full and ("hello", "wsgiref", "cpython") not in full
    assert ("flask", "uwsgi", "pypy") in full  # listed, and reported as not available


def rule_data(overheads):
    cells = [{"app": "hello", "server": "anvil", "runtime": rt, "status": "ok",
              "summary": {"server_us": {"median": o}}} for rt, o in overheads.items()]
    return report.Data({"apps": {"hello": {}}, "cells": cells, "runtimes": list(overheads),
                        "servers": {"anvil": {"label": "anvil"}}})


def test_the_rule_of_thumb_holds_under_a_quarter_of_a_2ms_request():
    d = rule_data({"cpython": 600.0, "pypy": 700.0})
    held = report.rule(d, "anvil", "cpython")
    assert held["holds"] and round(held["share_at_2ms"], 3) == 0.231
    failed = report.rule(d, "anvil", "pypy")
    assert not failed["holds"] and failed["break_even_app_us"] == 2100.0
    assert "1 of 2" in report.verdict_text(d) and "does not hold for" in report.verdict_text(d)


def test_a_resumed_run_reports_every_sittings_cells_time_and_load():
    # The machine block is the last sitting's; each cell keeps its own load
    # and phase times, so a run resumed after a loaded sitting still says so.
    cell = lambda load, secs: {"app": "hello", "server": "anvil", "runtime": "cpython",
                               "status": "ok", "load_average_at_start": [load, 0, 0],
                               "phases_s": {"warmup": secs, "runs": secs}}
    d = report.Data({"apps": {"hello": {}}, "runtimes": ["cpython"], "servers": {},
                     "cells": [cell(14.2, 60), cell(1.1, 30), cell(1.3, 30),
                               {"app": "flask", "server": "uwsgi", "runtime": "pypy",
                                "status": "not available", "load_average_at_start": [9, 0, 0]}],
                     "machine": {"load_average_at_start": [1.0, 0, 0]},
                     "load_average_at_end": [1.2, 0, 0]})
    text = report.sittings(d)
    assert text.startswith("4.0 min of measuring")
    assert "1.30 (median; 1.10–14.20), 1.20 at the end" in text


def test_a_resumed_run_names_the_commit_of_each_sittings_cells():
    cell = lambda commit: dict({"app": "hello", "server": "anvil", "runtime": "cpython",
                                "status": "ok", "phases_s": {"runs": 1}},
                               **({"commit": commit} if commit else {}))
    data = {"apps": {"hello": {}}, "runtimes": ["cpython"], "servers": {},
            "machine": {"git_commit": "bbb"},
            "cells": [cell("bbb"), {"app": "flask", "server": "uwsgi", "runtime": "pypy",
                                    "status": "not available"}]}
    assert report.commits(report.Data(data)) == ""
    data["cells"] += [cell("aaa"), cell("aaa"), cell(None)]
    assert report.commits(report.Data(data)) == (
        " (the last sitting's; of the cells measured, 2 at `aaa`, 1 at `bbb`, "
        "1 in earlier sittings whose commit was not recorded)")


def test_an_interrupted_full_run_lists_the_cells_it_has_not_measured():
    servers = {"anvil": {"label": "anvil", "runtimes": ["cpython", "pypy"]},
               "cheroot": {"label": "cheroot", "runtimes": ["pypy"]}}
    cells = [{"app": a, "server": s, "runtime": rt, "status": "ok", "label": s}
             for a, s, rt in [("hello", "anvil", "cpython"), ("flask", "anvil", "cpython"),
                              ("hello", "anvil", "pypy"), ("hello", "cheroot", "pypy")]]
    data = {"apps": {"hello": {"label": "hello"}, "flask": {"label": "Flask"}}, "cells": cells,
            "runtimes": ["cpython", "pypy"], "servers": servers, "matrix": "full",
            "complete": False}
    assert report.unmeasured(report.Data(data)) == [("anvil", "pypy", ["flask"]),
                                                     ("cheroot", "pypy", ["flask"])]
    assert "PyPy 3.9, cheroot: **not measured yet**" in report.failures(report.Data(data))
    assert report.unmeasured(report.Data(dict(data, complete=True))) == []


# --- the apps and their checks ----------------------------------------------------------

def call(app, request):
    """The app's answer to raw request bytes, as a probe.Response."""
    head, _, body = request.partition(b"\r\n\r\n")
    line, *fields = head.decode("latin-1").split("\r\n")
    method, target, _ = line.split(" ")
    path, _, query = target.partition("?")
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
               "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
    wsgiref.util.setup_testing_defaults(environ)
    for f in fields:
        name, _, value = f.partition(":")
        key = name.strip().upper().replace("-", "_")
        key = key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key
        environ[key] = value.strip()
    got = {}
    out = b"".join(timing.drain(app(environ, lambda s, h, e=None: got.update(s=s, h=h))))
    headers = [(k.lower(), v) for k, v in got["h"]]
    return Response(int(got["s"].split()[0]), headers, out, b"")


@pytest.fixture(scope="module")
def django_db():
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "db.sqlite3")
        env = dict(os.environ, ANVIL_BENCH_DB=db)
        subprocess.run([sys.executable, "-m", "djsite.setup_db"], cwd=APPS, env=env, check=True,
                       timeout=120)
        os.environ["ANVIL_BENCH_DB"] = db  # read by djsite.settings at its import
        yield db
        del os.environ["ANVIL_BENCH_DB"]


def app_module(key):
    pytest.importorskip({"hello": "os", "flask": "flask", "django": "django",
                         "falcon": "falcon"}[key])
    return importlib.import_module(served.MODULES[key])


@pytest.mark.parametrize("key", ["hello", "flask", "django", "falcon"])
def test_each_app_passes_its_check_and_refuses_its_bad_request(key, django_db):
    app = {a.key: a for a in matrix.apps()}[key]
    module = app_module(key)
    r = call(module.app, app.request)
    assert r.status == app.status
    app.check(r)
    if app.bad_request:
        assert call(module.app, app.bad_request).status == app.bad_status


@pytest.mark.parametrize("key, broken", [
    ("hello", b"Hello"),
    ("flask", b'{"status": "accepted", "lines": []}'),
    ("django", b"<html><table></table></html>"),
    ("falcon", b'{"total": 19, "limit": 10, "items": []}'),
])
def test_each_check_rejects_a_wrong_body(key, broken):
    app = {a.key: a for a in matrix.apps()}[key]
    ctype = "text/html" if key == "django" else "application/json"
    with pytest.raises(AssertionError):
        app.check(Response(app.status, [("content-type", ctype)], broken, b""))


def test_django_answers_on_tornado_where_the_app_runs_inside_the_event_loop(django_db, monkeypatch):
    """Tornado 6.2's WSGIContainer calls the app on the thread running the
    asyncio loop, where Django refuses ORM calls unless launch.py allows it."""
    pytest.importorskip("tornado")
    app_module("django")
    app = {a.key: a for a in matrix.apps()}["django"]
    spec = matrix.BY_KEY["tornado"].start(sys.executable)
    spec.env.update({"ANVIL_BENCH_APP": "django", "ANVIL_BENCH_DB": django_db,
                     "PYTHONPATH": APPS})
    spec.cwd = APPS
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)
    srv = measure.start_server(spec, cpu=0)
    try:
        r = measure.fetch(srv.host, srv.port, app.request)
    finally:
        _, log = srv.stop_and_read_log()
    assert r.status == app.status, log[-2000:]
    app.check(r)


# --- the harness, end to end ------------------------------------------------------------

@pytest.mark.skipif(not os.access(HAMMER, os.X_OK), reason="build/bin/hammer is not built")
def test_the_harness_measures_a_cell_and_reports_a_server_that_cannot_run(tmp_path):
    out = tmp_path / "apps.json"
    r = subprocess.run([sys.executable, os.path.join(APPS, "run.py"), "--quick", "--apps",
                        "hello", "--servers", "anvil,uwsgi", "--runtimes", "pypy", "--out",
                        str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["complete"] and data["matrix"] == "quick"
    cells = {c["server"]: c for c in data["cells"]}
    assert cells["uwsgi"]["status"] == "not available" and "PyPy" in cells["uwsgi"]["error"]
    anvil = cells["anvil"]
    assert anvil["status"] in ("ok", "errors"), anvil.get("error")
    assert anvil["summary"]["app_us"]["median"] >= 0 and anvil["runs"][0]["app_calls"] > 0
    assert len(anvil["sweep"]) >= 8 and all(len(s["runs"]) == 3 for s in anvil["sweep"])
    assert anvil["warmup"]["slices"]
    md = (tmp_path / "APPS.md").read_text()
    assert "QUICK" in md and "not available" in md
    assert (tmp_path / report.chart_name("hello", "pypy")).exists()
