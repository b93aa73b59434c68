"""HTTP semantics at the WSGI boundary (issue 9): requests whose responses and
environs are checked against values written from the RFCs and PEP 3333, not
against another server's output. Every case runs on both WSGI paths (C-API
and Python-side, ANVIL_WSGI_PATH); `make test-python` runs the file on
CPython and on PyPy. Where gunicorn (25) answers otherwise, a comment says
which rule anvil follows.
"""

import json
import socket

import pytest

from support import Reader, Server

APP = "apps.semantics_app:app"
PATHS = ("capi", "python")


def start(path, *args, **kwargs):
    return Server(APP, *args, env={"ANVIL_WSGI_PATH": path}, **kwargs)


@pytest.fixture(scope="module", params=PATHS)
def server(request):
    s = start(request.param)
    yield s
    s.stop()


def exchange(server, raw, head=False, then=None):
    """Sends raw on a new connection and reads its response; then (raw bytes)
    is sent on the same connection afterwards, and its response returned as
    the second item: a response framed wrongly would garble it."""
    with server.connect() as s:
        s.sendall(raw)
        reader = Reader(s)
        first = reader.response(head_request=head)
        if then is None:
            return first, None
        s.sendall(then)
        return first, reader.response()


def env_of(resp):
    assert resp.status == 200, (resp.status, resp.body)
    return json.loads(resp.body)


FOLLOW_UP = b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n"
BODIES = ("list", "empty-list", "generator", "empty-generator", "file", "bytesio")


# --- 1. Response framing: RFC 9110 §6.4.1, §8.6, §9.3.2 ------------------------

def framed(server, method, status, body, query=""):
    raw = f"{method} /status/{status}/{body}{query} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    resp, after = exchange(server, raw, head=(method == "HEAD"), then=FOLLOW_UP)
    # The next response on the connection is intact: the first was framed right.
    assert after.status == 200 and env_of(after)["PATH_INFO"] == "/after"
    return resp


@pytest.mark.parametrize("method", ("GET", "HEAD"))
@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("query", ("", "?cl=0"))
def test_204_has_no_content_length(server, method, body, query):
    # RFC 9110 §8.6: a server MUST NOT send Content-Length in a 204, not even
    # the app's own 0 (gunicorn sends the app's). §6.4.1: no body either.
    resp = framed(server, method, 204, body, query)
    assert resp.status == 204
    assert resp.header("Content-Length") is None
    assert resp.header("Transfer-Encoding") is None


@pytest.mark.parametrize("method", ("GET", "HEAD"))
@pytest.mark.parametrize("body", BODIES)
def test_304_keeps_the_apps_length_and_invents_none(server, method, body):
    # RFC 9110 §8.6: a 304's Content-Length is the one the 200 would have had;
    # only the app knows it. gunicorn adds "Content-Length: 0" to an empty list.
    resp = framed(server, method, 304, body)
    assert resp.status == 304
    assert resp.header("Content-Length") is None
    assert resp.header("Transfer-Encoding") is None
    resp = framed(server, method, 304, body, "?cl=5")
    assert resp.status == 304 and resp.header("Content-Length") == "5"


@pytest.mark.parametrize("method", ("GET", "HEAD"))
@pytest.mark.parametrize("status", (100, 101, 103, 199))
def test_1xx_is_not_a_final_response(server, method, status):
    # RFC 9110 §15.2: a 1xx is interim; sent as the app's only answer it would
    # leave the client waiting for the final one. The app's error: 500.
    raw = f"{method} /status/{status}/list HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    resp, _ = exchange(server, raw, head=(method == "HEAD"))
    assert resp.status == 500
    server.wait_for_log(r"a 1xx status is an interim response, not a final one")


# What a GET of each body is framed with, and so what HEAD says (RFC 9110
# §9.3.2): Content-Length where the server knows the body whole, chunked
# otherwise, and on HEAD never a length the GET would not have had.
GET_FRAMING = {
    "list": ("5", None),
    "empty-list": ("0", None),
    "generator": (None, "chunked"),
    "empty-generator": ("0", None),
    "file": ("5", None),
    "bytesio": (None, "chunked"),
}
HEAD_LENGTH = {
    "list": "5",  # the app's one item: the length its GET has
    # The app may have left a HEAD's body out (Flask does): 0 would be a lie.
    # gunicorn says "Content-Length: 0" here.
    "empty-list": None,
    "generator": None,  # gunicorn: Content-Length: 0 when it yields nothing
    "empty-generator": None,
    "file": "5",  # the file's size
    "bytesio": None,
}


@pytest.mark.parametrize("body", BODIES)
def test_get_framing(server, body):
    resp = framed(server, "GET", 200, body)
    assert (resp.header("Content-Length"), resp.header("Transfer-Encoding")) == GET_FRAMING[body]
    assert resp.body == (b"hello" if body not in ("empty-list", "empty-generator") else b"")


@pytest.mark.parametrize("body", BODIES)
def test_head_framing(server, body):
    resp = framed(server, "HEAD", 200, body)
    assert resp.status == 200
    assert resp.header("Content-Length") == HEAD_LENGTH[body]


@pytest.mark.parametrize("body", BODIES)
def test_head_keeps_the_apps_length(server, body):
    resp = framed(server, "HEAD", 200, body, "?cl=5")
    assert resp.header("Content-Length") == "5"
    assert resp.header("Transfer-Encoding") is None


# --- 2. Fields an app may not set (PEP 3333, RFC 9110 §7.6.1) -------------------

@pytest.mark.parametrize("name,value", [
    ("Transfer-Encoding", "chunked"),
    ("Connection", "keep-alive"),
    ("Connection", "upgrade"),
    ("Keep-Alive", "timeout=5"),
    ("Upgrade", "h2c"),
    ("Proxy-Connection", "close"),
    ("Proxy-Authenticate", "Basic"),
    ("TE", "trailers"),
    ("Trailer", "X-Sum"),
])
def test_hop_by_hop_field_from_the_app_is_a_500(server, name, value):
    # gunicorn drops these silently: the app's pre-chunked bytes then go out
    # as content. PEP 3333: "applications ... must not ... generate" them.
    raw = f"GET /header?name={name}&value={value} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    resp, _ = exchange(server, raw)
    assert resp.status == 500
    server.wait_for_log(rf"hop-by-hop header field '{name}'")


def test_connection_close_from_the_app_is_honoured(server):
    with server.connect() as s:
        s.sendall(b"GET /header?name=Connection&value=close HTTP/1.1\r\nHost: t\r\n\r\n")
        reader = Reader(s)
        resp = reader.response()
        assert resp.status == 200 and resp.header("Connection") == "close"
        assert reader.closed()


@pytest.mark.parametrize("value", ("abc", "-1", "1.5", "", "%205", "5,5"))
def test_bad_content_length_from_the_app_names_the_fault(server, value):
    raw = f"GET /header?name=Content-Length&value={value} HTTP/1.1\r\nHost: t\r\n\r\n"
    resp, _ = exchange(server, raw.encode())
    assert resp.status == 500
    server.wait_for_log(r"invalid Content-Length \(not a decimal number")
    assert "invalid header value (control character)" not in server.log
