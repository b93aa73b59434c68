"""The shared measurement library (bench/measure): the warm-up rule, the
response probe, the CPU of a process tree, starting and stopping a server,
and one counted hammer run against anvil serving the hello app."""

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import measure  # noqa: E402
from measure import servers, warmup  # noqa: E402

HAMMER = os.path.join(ROOT, "build", "bin", "hammer")
PYTHON = "/usr/bin/python3"
HELLO_ENV = {"PYTHONPATH": os.pathsep.join([os.path.join(ROOT, "python"),
                                            os.path.join(ROOT, "bench", "apps")])}
GET = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


# --- the warm-up rule -------------------------------------------------------------------

@pytest.mark.parametrize("name, figures, cap, slices, settled", [
    ("flat from the start", [10.0, 10.2, 99.0], 10, 2, True),
    ("a JIT settling", [40.0, 25.0, 14.0, 12.0, 11.8, 11.9], 10, 5, True),
    ("exactly 5% apart", [100.0, 105.0], 10, 2, True),
    ("just over 5%", [100.0, 105.1, 110.4, 116.0], 4, 4, False),
    ("never settles within the cap", [50.0, 40.0, 30.0, 20.0, 20.0], 4, 4, False),
    ("a slice with no answer is not settled", [None, None, 10.0, 10.0], 10, 4, True),
])
def test_warm_up_stops_when_the_last_two_slices_agree(name, figures, cap, slices, settled):
    it = iter(figures)
    record = warmup.warm_up(lambda: next(it), max_slices=cap)
    assert len(record["slices"]) == slices, name
    assert record["settled"] is settled, name
    assert record["tolerance"] == 0.05


def test_warm_up_keeps_the_figures_a_slice_returns():
    record = warmup.warm_up(lambda: {"cpu_us": 7.0, "requests": 100})
    assert record["slices"] == [{"cpu_us": 7.0, "requests": 100}] * 2


def test_summarize():
    assert measure.summarize([3, None, 1, 2]) == {"median": 2, "min": 1, "max": 3, "n": 3}
    assert measure.summarize([1.23456, 2.0], digits=2)["median"] == 1.62
    assert measure.summarize([None]) is None


def runs(median, low, high):
    return {"median": median, "min": low, "max": high, "n": 5}


@pytest.mark.parametrize("name, a, b, median, spread, noise", [
    ("apart, tight runs", runs(10.0, 9.8, 10.2), runs(5.0, 4.9, 5.1), 5.0, 0.6, False),
    ("a negative difference inside the spread (issue 12's −18.2 µs)",
     runs(30.0, 22.0, 52.0), runs(48.2, 30.0, 60.0), -18.2, 60.0, True),
    ("a negative difference outside it", runs(5.0, 4.8, 5.2), runs(9.0, 8.9, 9.1), -4.0, 0.6,
     False),
    ("the spread exactly the difference", runs(12.0, 11.0, 13.0), runs(9.0, 8.5, 9.5), 3.0,
     3.0, False),
    ("overlapping runs", runs(10.0, 8.0, 12.0), runs(9.0, 8.5, 9.5), 1.0, 5.0, True),
    ("one run each, equal", runs(7.0, 7.0, 7.0), runs(7.0, 7.0, 7.0), 0.0, 0.0, False),
])
def test_a_difference_smaller_than_its_runs_spread_is_within_noise(name, a, b, median, spread,
                                                                   noise):
    d = measure.difference(a, b)
    assert (d["median"], d["spread"], d["within_noise"]) == (median, spread, noise), name
    assert (d["min"], d["max"]) == (round(a["min"] - b["max"], 3),
                                    round(a["max"] - b["min"], 3)), name


def test_a_difference_with_a_missing_side_is_none():
    assert measure.difference(None, runs(1.0, 1.0, 1.0)) is None
    assert measure.difference(runs(1.0, 1.0, 1.0), None) is None


# --- the probe --------------------------------------------------------------------------

def serve_once(response):
    """A listener that answers one connection with `response` bytes, then closes."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)

    def run():
        conn, _ = lsock.accept()
        with conn:
            conn.recv(65536)
            for i in range(0, len(response), 7):  # in small pieces
                conn.sendall(response[i:i + 7])
        lsock.close()

    threading.Thread(target=run, daemon=True).start()
    return lsock.getsockname()[1]


@pytest.mark.parametrize("name, raw, status, body", [
    ("content-length", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", 200, b"hello"),
    ("chunked", b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n", 201, b"abcde"),
    ("until close", b"HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope", 404,
     b"nope"),
])
def test_fetch_frames_and_decodes_the_body(name, raw, status, body):
    r = measure.fetch("127.0.0.1", serve_once(raw), GET, timeout=5)
    assert (r.status, r.body) == (status, body), name


def test_verify_rejects_a_wrong_status_or_body():
    port = serve_once(b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\nno")
    with pytest.raises(AssertionError, match="expected status 200"):
        measure.verify("127.0.0.1", port, GET)
    port = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno")
    with pytest.raises(AssertionError, match="expected body"):
        measure.verify("127.0.0.1", port, GET)


def test_keep_alive_request_drops_the_connection_field():
    assert measure.keep_alive_request(GET) == b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


# --- CPU of a process tree ----------------------------------------------------------------

def test_tree_cpu_counts_a_busy_child():
    """A shell whose child burns CPU: the tree's CPU grows, the root's alone does not."""
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    proc = subprocess.Popen(["/bin/sh", "-c", f"{PYTHON} -c '{burn}'; sleep 30"])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            snap = measure.snapshot(proc.pid)
            if snap.runtime_s >= 0.25:
                break
            time.sleep(0.05)  # polling the child's CPU, bounded by the deadline
        assert snap.runtime_s >= 0.25
        assert snap.user_s + snap.sys_s >= 0.2  # reaped into cutime, or live
    finally:
        proc.kill()
        proc.wait()


# --- servers ------------------------------------------------------------------------------

def test_start_server_reports_why_a_server_did_not_start():
    spec = servers.ServerSpec("broken", [PYTHON, "-c", "import sys; print('no such app'); "
                                         "sys.exit(3)"], ready="port")
    with pytest.raises(servers.StartError, match=r"exited \(3\).*no such app") as e:
        measure.start_server(spec, cpu=0)
    assert "no such app" in e.value.log


def test_the_builders_command_lines():
    g = servers.gunicorn(PYTHON, "m:app", worker_class="gthread", threads=4, backlog=64)
    assert g.argv[-1] == "m:app" and "--threads" in g.argv and "{port}" in " ".join(g.argv)
    w = servers.waitress(PYTHON, "m:app", threads=2)
    assert "--threads=2" in w.argv and w.argv[-1] == "m:app"
    a = servers.anvil(PYTHON, "m:app", workers=0, threads=3, stats=True)
    assert a.ready == "line" and a.argv[-1] == "m:app" and "--stats" in a.argv
    n = servers.anvil(PYTHON, native="hello")
    assert "--native" in n.argv and "--parser" not in n.argv
    assert servers.twisted(PYTHON, "m:app").argv[5] == "m.app"
    assert servers.launched(PYTHON, "cheroot", "m:app").argv[-3:] == ["cheroot", "{port}",
                                                                      "m:app"]


@pytest.mark.skipif(not os.access(HAMMER, os.X_OK), reason="build/bin/hammer is not built")
def test_counted_run_against_anvil_hello():
    spec = servers.anvil(PYTHON, "hello:app", workers=0, env=HELLO_ENV,
                         cwd=os.path.join(ROOT, "bench", "apps"))
    srv = measure.start_server(spec, cpu=0)
    try:
        measure.verify(srv.host, srv.port, GET)
        with open(os.path.join(ROOT, "bench", "requests", "chrome-2013.http"), "rb") as f:
            request = f.read()
        path = os.path.join(srv.workdir, "req.http")
        with open(path, "wb") as f:
            f.write(request)
        client = measure.Hammer(HAMMER, expect_status="200", timeout="10s")
        r = measure.counted_run(srv, client, path, True, 300, connections=4, warmup=50)
        assert r["requests"] == 300 and r["errors"] == 0
        assert r["schedstat_per_request_us"] > 0 and r["server_cpu_s"] > 0
        assert r["p99_us"] >= r["p50_us"] > 0
        slow = measure.counted_run(srv, client, path, True, 40, connections=4, rate=400)
        assert slow["rate"] == 400 and slow["uncorrected_p99_us"] is not None
    finally:
        srv.stop()
    assert not os.path.exists(srv.workdir)


def test_launch_script_serves_an_app_from_the_working_directory():
    """launch.py's folder must not shadow the standard library (it holds a
    module of its own): wsgiref imports http.server."""
    srv = measure.start_server(servers.launched(PYTHON, "wsgiref", "hello:app",
                                                cwd=os.path.join(ROOT, "bench", "apps")))
    try:
        measure.verify(srv.host, srv.port, GET)
    finally:
        srv.stop()
