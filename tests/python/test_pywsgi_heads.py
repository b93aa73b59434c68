"""_pywsgi's cache of checked response heads (the python and cffi WSGI paths
check a head once per distinct (status, headers) pair): a cached head is sent
as it was checked, a bad head is refused every time, and the cache stays
bounded. In-process, on the dispatcher and on _Heads itself; the
rules themselves are tested end to end on every path in test_wsgi.py."""

import sys

import pytest

from support import PACKAGE_DIR

sys.path.insert(0, PACKAGE_DIR)
from anvil import _pywsgi  # noqa: E402


class Chan:
    """A channel that takes every call and does nothing: the responses here
    are lists, which come back whole from dispatch()."""

    def __getattr__(self, name):
        return lambda *args: None


def head_of(response):
    return response.partition(b"\0")[0]


def request(method=b"GET"):
    return b"\n".join([method, b"/", b"/", b"", b"1", b"", b"h", b"80", b"127.0.0.1", b"1",
                       b"http", b""])


def dispatcher(app):
    return _pywsgi.make_dispatcher(app, False, False, False)


def answering(status, headers, body=(b"ok",)):
    def app(environ, start_response):
        start_response(status, headers)
        return list(body)

    return app


def test_a_cached_head_answers_as_the_first():
    dispatch = dispatcher(answering("200 OK", [("Content-Type", "text/plain")]))
    first = dispatch(Chan(), request(), None)
    assert first == b"200 OK\nContent-Type\ntext/plain\nContent-Length\n2\0ok"
    assert dispatch(Chan(), request(), None) == first


def test_the_added_length_does_not_stick_to_the_cached_head():
    bodies = iter([[b"abc"], [b"abcdef"], [b"x", b"y"]])

    def app(environ, start_response):
        start_response("200 OK", [("X-A", "b")])
        return next(bodies)

    dispatch = dispatcher(app)
    assert head_of(dispatch(Chan(), request(), None)) == b"200 OK\nX-A\nb\nContent-Length\n3"
    assert head_of(dispatch(Chan(), request(), None)) == b"200 OK\nX-A\nb\nContent-Length\n6"
    assert head_of(dispatch(Chan(), request(), None)) == b"200 OK\nX-A\nb"  # several items


def test_a_head_is_kept_the_second_time_it_is_seen():
    heads = _pywsgi._Heads()
    first = heads.check("200 OK", [("X-A", "b")])
    assert heads.kept == {}  # seen once: a head made per request costs no entry
    second = heads.check("200 OK", [("X-A", "b")])
    assert second == first and [head for _, head in heads.kept.values()] == [second]
    assert heads.check("200 OK", [("X-A", "b")]) is second  # a hit


@pytest.mark.parametrize("status, headers, error", [
    ("200 OK", [("X-A", "a\r\nInjected: yes")], ValueError),
    ("200 OK", [("X A", "b")], ValueError),
    ("200 OK", [("Transfer-Encoding", "chunked")], ValueError),
    ("200 OK", [("Content-Length", "x")], ValueError),
    ("20", [], ValueError),
    ("200 OK", [["X-A", "b"]], TypeError),  # a list is not a (name, value) tuple, nor hashable
    ("200 OK", ("X-A", "b"), TypeError),
])
def test_a_bad_head_is_refused_every_time(status, headers, error):
    heads = _pywsgi._Heads()
    for _ in range(3):
        with pytest.raises(error):
            heads.check(status, headers)
    assert heads.kept == {}


class Liar(str):
    """A str that claims to equal (and hashes as) a checked value."""

    def __eq__(self, other):
        return True

    def __hash__(self):
        return hash("text/plain")


def test_a_hit_sends_the_checked_objects_not_the_apps():
    heads = _pywsgi._Heads()
    for _ in range(2):
        good = heads.check("200 OK", [("Content-Type", "text/plain")])  # seen twice: kept
    evil = [("Content-Type", Liar("text/plain\r\nSet-Cookie: evil"))]
    assert heads.check("200 OK", evil) is good


def test_the_cache_is_bounded():
    heads = _pywsgi._Heads()
    for i in range(3 * _pywsgi._HEAD_CACHE_SIZE):
        for _ in range(2):
            heads.check("200 OK", [("ETag", str(i))])
        assert len(heads.kept) <= _pywsgi._HEAD_CACHE_SIZE
    assert len(heads.seen) == _pywsgi._HEAD_CACHE_SIZE
    heads = _pywsgi._Heads()
    big = "x" * _pywsgi._HEAD_CACHE_BYTES
    for _ in range(2):
        _, head, _ = heads.check("200 OK", [("X-Big", big)])
        assert head.endswith(big.encode())  # checked and sent, never kept
    assert heads.kept == {}
