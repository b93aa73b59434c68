"""The process model through `python -m anvil`: pre-forked workers, restart of
a dead worker, graceful SIGTERM, --threads."""

import os
import signal
import threading
import time

from support import Reader, get, wait_exited

APP = "apps.procs:app"


def pids_seen(server, want, attempts=200):
    """Distinct worker PIDs answering new connections, until `want` are seen."""
    seen = set()
    for _ in range(attempts):
        seen.add(int(get(server, "/").body))
        if len(seen) >= want:
            break
    return seen


def test_two_workers_both_serve(start_server):
    s = start_server(APP, "--workers", "2")
    workers = s.worker_pids(2)
    assert s.children() == workers
    # Hold a request open in each worker in turn: the other one must answer.
    with s.connect() as busy:
        busy.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        m = s.wait_for_log(r"slow request started in (\d+)")
        slow_pid = int(m.group(1))
        assert slow_pid in workers
        other = int(get(s, "/").body)
        assert other in workers and other != slow_pid
        assert Reader(busy).response().body == b"slow done"


def test_killed_worker_is_replaced_within_two_seconds(start_server):
    s = start_server(APP, "--workers", "1")
    [old] = s.worker_pids(1)
    assert int(get(s, "/").body) == old
    os.kill(old, signal.SIGKILL)
    killed = time.monotonic()
    # The listening socket stays open in the master: this connection waits in
    # the backlog until the new worker accepts it.
    new = int(get(s, "/").body)
    elapsed = time.monotonic() - killed
    assert new != old
    assert elapsed < 2.0, elapsed
    assert s.worker_pids(2) == sorted([old, new])
    assert s.children() == [new]


def test_sigterm_lets_request_in_flight_finish(start_server):
    s = start_server(APP, "--graceful-timeout", "10")
    result = {}

    def slow_client():
        with s.connect(timeout=20) as c:
            c.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            result["response"] = Reader(c).response()

    t = threading.Thread(target=slow_client)
    t.start()
    s.wait_for_log(r"slow request started")
    s.signal(signal.SIGTERM)
    t.join(timeout=20)
    r = result.get("response")
    assert r is not None and r.status == 200 and r.body == b"slow done"
    assert s.proc.wait(timeout=20) == 0


def test_sigterm_idle_exits_zero(start_server):
    s = start_server(APP, "--workers", "2")
    workers = s.worker_pids(2)
    get(s, "/")
    s.signal(signal.SIGTERM)
    assert s.proc.wait(timeout=20) == 0
    # The master reaps its workers before it exits: none is left running.
    assert all(wait_exited(pid, timeout=0) for pid in workers)


def test_threads_serve_concurrently(start_server):
    s = start_server(APP, "--threads", "4")
    s.worker_pids(1)  # booted: it imports the app after fork, and that is not timed here
    # Two slow requests in one worker at once: with 4 Python threads both
    # run together, so both finish in well under 2 x 2 s.
    results = []

    def client():
        with s.connect(timeout=20) as c:
            c.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            results.append(Reader(c).response().body)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(2)]
    for t in threads:
        t.start()
    s.wait_for_log_count(r"slow request started", 2)
    # The loop thread does not wait for the GIL or the busy threads.
    quick = time.monotonic()
    assert get(s, "/").status == 200
    assert time.monotonic() - quick < 1.0
    for t in threads:
        t.join(timeout=20)
    assert results == [b"slow done", b"slow done"]
    assert time.monotonic() - started < 3.8


def test_sighup_replaces_workers(start_server):
    s = start_server(APP, "--workers", "2")
    old = s.worker_pids(2)
    s.signal(signal.SIGHUP)
    pids = s.worker_pids(4)
    new = sorted(set(pids) - set(old))
    assert len(new) == 2
    # The old workers drain and exit; from then on only the new ones answer.
    assert all(wait_exited(pid) for pid in old)
    seen = {int(get(s, "/").body) for _ in range(10)}
    assert seen <= set(new)
    assert s.proc.poll() is None
