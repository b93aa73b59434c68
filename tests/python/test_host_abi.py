"""The core's C ABI (server/include/anvil/host.h, libanvil_host.so) on its own:
apps/raw_host.py drives it through anvil._cffi_host without _pywsgi, so that
each case pins one promise of the header (the packed head, start's refusal
codes, the packed response, body reads, ANVIL_NOTIFY on the loop thread and
waiting writes on request threads, a write after the end, a response never
finished, send_file). The rest of the suite runs the cffi WSGI path on top.
"""

import hashlib
import os

import pytest

from support import SERVER_PYTHON, TESTS, Reader, Server, get, post

RAW_HOST = os.path.join(TESTS, "apps", "raw_host.py")


def start(*args):
    return Server(None, *args, command=[SERVER_PYTHON, RAW_HOST])


@pytest.fixture(scope="module", params=["1", "3"], ids=["loop-thread", "threads-3"])
def host(request):
    s = start("--threads", request.param, "--body-buffer-size", "1024")
    s.threads = int(request.param)
    yield s
    s.stop()


def test_the_head_is_packed_as_pywsgi_reads_it(host):
    r = get(host, "/head?a=1", headers=[("X-One", "1"), ("X-One", "2")])
    assert r.status == 200
    parts = r.body.decode("latin-1").split("\n")
    ip, port = host.address
    assert parts[:12] == ["GET", "/head?a=1", "/head", "a=1", "1", "", ip, str(port), "127.0.0.1",
                          parts[9], "http", ""]
    assert int(parts[9]) > 0
    assert parts[12:] == ["Host", "test", "X-One", "1", "X-One", "2", "Connection", "close"]


def test_a_refused_status_returns_the_reason(host):
    r = get(host, "/bad-status")
    assert r.body == b"1 invalid status line (expected 'NNN reason')"


def test_the_head_comes_split_at_starts(host):
    # An empty value too: a part of length 0 between two line breaks.
    r = get(host, "/parts?q", headers=[("X-One", "1"), ("X-Empty", ""), ("X-Two", "a b")])
    assert r.status == 200
    packed, _, sliced = r.body.partition(b"\0\0")
    assert b"\nX-Empty\n\nX-Two\n" in packed
    assert sliced.split(b"\0") == packed.split(b"\n")


def test_respond_sends_a_packed_head_and_body(host):
    r = get(host, "/respond")
    assert (r.status, r.header("X-Packed"), r.body) == (201, "yes", b"made")


@pytest.mark.parametrize("size,how", [(0, "buffered"), (1000, "buffered"), (50000, "read")])
def test_body_buffered_or_read_on_demand(host, size, how):
    body = hashlib.sha256(b"x").digest() * (size // 32) + b"y" * (size % 32)
    r = post(host, "/body", body)
    assert r.body == f"{how} {len(body)} {sum(body)}".encode()


def test_notify_is_pending_on_the_loop_thread_and_waits_elsewhere(host):
    r = get(host, "/notify")
    rc = 1 if host.threads == 1 else 0  # ANVIL_PENDING, or written
    assert r.body == f"one rc={rc}\ntwo\n".encode()


def test_a_write_after_the_end_is_refused(host):
    assert get(host, "/after-finish").body == b"done"
    host.wait_for_log(r"raw_host: write after finish: -1000\b")


def test_a_response_never_finished_closes_the_connection(host):
    with host.connect() as s:
        s.sendall(b"GET /unfinished HTTP/1.1\r\nHost: t\r\n\r\n")
        reader = Reader(s)
        assert reader.closed()
        assert reader.buf == b""
    assert get(host, "/respond").status == 201  # the worker goes on


def test_send_file(host):
    r = get(host, "/file")
    with open(RAW_HOST, "rb") as f:
        assert r.body == f.read()
