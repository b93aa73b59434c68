"""HTTP semantics at the WSGI boundary (issue 9): requests whose responses and
environs are checked against values written from the RFCs and PEP 3333, not
against another server's output. Every case runs on every WSGI path (C-API,
Python-side and cffi, ANVIL_WSGI_PATH); `make test-python` runs the file on
CPython and on PyPy. Where gunicorn (25) answers otherwise, a comment says
which rule anvil follows.
"""

import json
import os
import socket
import subprocess

import pytest

from support import PACKAGE_DIR, SERVER_PYTHON, TESTS, Reader, Server

APP = "apps.semantics_app:app"
PATHS = ("capi", "python", "cffi")


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


def environ(server, raw):
    return env_of(exchange(server, raw)[0])


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


@pytest.mark.parametrize("body", ("generator", "bytesio"))
def test_http10_streamed_body_ends_with_the_connection(server, body):
    # RFC 9112 §7.1: chunked is for HTTP/1.1 recipients only; §6.3: without a
    # length the body ends when the connection closes.
    resp, _ = exchange(server, f"GET /status/200/{body} HTTP/1.0\r\n\r\n".encode())
    assert resp.header("Transfer-Encoding") is None and resp.header("Content-Length") is None
    assert resp.header("Connection") == "close" and resp.body == b"hello"


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


# --- 3. Repeated fields (RFC 9110 §5.3, RFC 6265 §5.4) ---------------------------

def test_cookie_lines_join_with_semicolons(server):
    # gunicorn joins with ",": frameworks then read a="1,b=2" and lose b.
    env = environ(server, b"GET / HTTP/1.1\r\nHost: t\r\nCookie: a=1\r\nCookie: b=2\r\n"
                          b"Accept: x\r\nAccept: y\r\n\r\n")
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["HTTP_ACCEPT"] == "x,y"


# --- 4. Absolute-form targets (RFC 9112 §3.2.2) ----------------------------------

@pytest.mark.parametrize("target,host,name,port,path,query", [
    ("http://example.com:8080/abs?x=1", "example.com:8080", "example.com", "8080", "/abs", "x=1"),
    ("http://example.com/abs", "example.com", "example.com", "80", "/abs", ""),
    ("https://example.com/abs", "example.com", "example.com", "443", "/abs", ""),
    ("http://example.com", "example.com", "example.com", "80", "/", ""),
    ("http://example.com?q", "example.com", "example.com", "80", "/", "q"),
    ("http://[::1]:81/a%2Fb", "[::1]:81", "[::1]", "81", "/a/b", ""),
])
def test_absolute_form_authority_replaces_host(server, target, host, name, port, path, query):
    # gunicorn keeps Host's value; the RFC says the origin server MUST ignore it.
    env = environ(server, f"GET {target} HTTP/1.1\r\nHost: other.test:9\r\n\r\n".encode())
    assert (env["HTTP_HOST"], env["SERVER_NAME"], env["SERVER_PORT"]) == (host, name, port)
    assert (env["PATH_INFO"], env["QUERY_STRING"]) == (path, query)
    assert env["RAW_URI"] == env["REQUEST_URI"] == target


def test_origin_form_keeps_the_connection_address(server):
    env = environ(server, b"GET /p HTTP/1.1\r\nHost: other.test:9\r\n\r\n")
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == (server.host, str(server.port))
    assert env["HTTP_HOST"] == "other.test:9"


# --- 5. Unix sockets (gunicorn's rule) -------------------------------------------

@pytest.mark.parametrize("path", PATHS)
def test_unix_socket_server_name_and_port(path, tmp_path):
    sock = str(tmp_path / "s.sock")
    s = start(path, binds=(f"unix:{sock}",))
    try:
        def env_for(head):
            with socket.socket(socket.AF_UNIX) as u:
                u.settimeout(10)
                u.connect(sock)
                u.sendall(head + b"Connection: close\r\n\r\n")
                return env_of(Reader(u).response())
        env = env_for(b"GET /u HTTP/1.1\r\nHost: app.test\r\n")
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("app.test", "80")
        env = env_for(b"GET /u HTTP/1.1\r\nHost: app.test:8443\r\n")
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("app.test", "8443")
        env = env_for(b"GET /u HTTP/1.0\r\n")  # HTTP/1.0 may leave Host out
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("localhost", "80")
        assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("", "0")
    finally:
        s.stop()


# --- 6. SCRIPT_NAME, --root-path, RAW_URI ----------------------------------------

def test_raw_uri_is_the_target_as_sent(server):
    env = environ(server, b"GET /a%2Fb/c%20d?x=%2F HTTP/1.1\r\nHost: t\r\n\r\n")
    assert env["RAW_URI"] == env["REQUEST_URI"] == "/a%2Fb/c%20d?x=%2F"
    assert env["PATH_INFO"] == "/a/b/c d" and env["SCRIPT_NAME"] == ""


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("how", ("option", "environment"))
def test_root_path(path, how):
    if how == "option":
        s = start(path, "--root-path", "/app")
    else:
        s = Server(APP, env={"ANVIL_WSGI_PATH": path, "SCRIPT_NAME": "/app"})
    try:
        for target, path_info in [("/app/x?q=1", "/x"), ("/app", ""), ("/app/", "/"),
                                  # Not under the prefix (a proxy stripped it): all of it.
                                  ("/x", "/x"), ("/application", "/application")]:
            env = environ(s, f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            assert env["SCRIPT_NAME"] == "/app"
            assert env["PATH_INFO"] == path_info, target
            assert env["RAW_URI"] == target
    finally:
        s.stop()


# --- 8. --forwarded-allow-ips ----------------------------------------------------

def from_source(server, source, raw):
    """The response to raw sent from the local address `source`."""
    with socket.create_connection(server.address, timeout=10, source_address=(source, 0)) as s:
        s.sendall(raw)
        return Reader(s).response()


SPOOF = (b"GET / HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 6.6.6.6\r\n"
         b"X-Forwarded-Proto: https\r\nForwarded: for=7.7.7.7;proto=https\r\n\r\n")


def test_forwarded_fields_from_an_untrusted_peer_are_ignored(server):
    # The default trusts 127.0.0.1 only; 127.0.0.2 is another peer.
    env = env_of(from_source(server, "127.0.0.2", SPOOF))
    assert env["REMOTE_ADDR"] == "127.0.0.2"
    assert env["wsgi.url_scheme"] == "http"
    assert env["HTTP_X_FORWARDED_FOR"] == "6.6.6.6"  # still there, for the app to judge


FORWARDED_CASES = [
    # (fields, REMOTE_ADDR, REMOTE_PORT or None for "any", wsgi.url_scheme)
    (b"X-Forwarded-For: 203.0.113.7\r\n", "203.0.113.7", "0", "http"),
    (b"X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n", "203.0.113.7", "0", "https"),
    # The client's own entry comes first: the proxy appended the peer it saw.
    (b"X-Forwarded-For: 6.6.6.6, 203.0.113.7\r\n", "203.0.113.7", "0", "http"),
    (b"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 203.0.113.7\r\n", "203.0.113.7", "0", "http"),
    # Trusted hops are skipped: the nearest untrusted one is the client.
    (b"X-Forwarded-For: 203.0.113.7, 127.0.0.1\r\n", "203.0.113.7", "0", "http"),
    (b"X-Forwarded-For: not-an-address\r\n", "127.0.0.1", None, "http"),
    (b"X-Forwarded-Proto: ftp\r\n", "127.0.0.1", None, "http"),
    (b'Forwarded: for="[2001:db8::17]:4711";proto=https\r\n', "2001:db8::17", "4711", "https"),
    (b"Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43\r\n", "192.0.2.60", "0", "http"),
    (b"Forwarded: for=6.6.6.6, for=192.0.2.60:80\r\n", "192.0.2.60", "80", "http"),
    # RFC 7239 supersedes X-Forwarded-*: Forwarded wins.
    (b"Forwarded: for=192.0.2.60\r\nX-Forwarded-For: 203.0.113.7\r\n"
     b"X-Forwarded-Proto: https\r\n", "192.0.2.60", "0", "http"),
    (b"Forwarded: for=unknown;proto=https\r\n", "127.0.0.1", None, "https"),
]


@pytest.mark.parametrize("fields,addr,port,scheme", FORWARDED_CASES)
def test_forwarded_fields_from_a_trusted_peer(server, fields, addr, port, scheme):
    env = env_of(from_source(server, "127.0.0.1", b"GET / HTTP/1.1\r\nHost: t\r\n" + fields + b"\r\n"))
    assert env["REMOTE_ADDR"] == addr
    if port is not None:
        assert env["REMOTE_PORT"] == port
    assert env["wsgi.url_scheme"] == scheme


@pytest.mark.parametrize("path", PATHS)
def test_forwarded_allow_ips_lists_and_star(path):
    chain = b"GET / HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 6.6.6.6, 10.1.2.3, 127.0.0.3\r\n\r\n"
    s = start(path, "--forwarded-allow-ips", "127.0.0.2, 127.0.0.3,10.0.0.0/8")
    try:
        # 127.0.0.1 is no longer trusted.
        assert env_of(from_source(s, "127.0.0.1", SPOOF))["REMOTE_ADDR"] == "127.0.0.1"
        # 127.0.0.3 and 10/8 are proxies: the client is 6.6.6.6.
        assert env_of(from_source(s, "127.0.0.2", chain))["REMOTE_ADDR"] == "6.6.6.6"
    finally:
        s.stop()
    s = start(path, "--forwarded-allow-ips", "*")
    try:
        # Everything trusted: gunicorn's rule, the first address.
        env = env_of(from_source(s, "127.0.0.5", chain))
        assert env["REMOTE_ADDR"] == "6.6.6.6"
        env = env_of(from_source(s, "127.0.0.5", SPOOF))
        assert env["REMOTE_ADDR"] == "7.7.7.7" and env["wsgi.url_scheme"] == "https"
    finally:
        s.stop()


@pytest.mark.parametrize("args,env,needle", [
    (["--forwarded-allow-ips", "10.0.0.x"], {}, "--forwarded-allow-ips: not an address, a network or *: 10.0.0.x"),
    (["--forwarded-allow-ips", "10.0.0.0/33"], {}, "not an address, a network or *: 10.0.0.0/33"),
    (["--forwarded-allow-ips", ""], {}, "--forwarded-allow-ips: not an address"),
    (["--root-path", "app"], {}, "--root-path: not a path prefix like /app"),
    (["--root-path", "/app/"], {}, "--root-path: not a path prefix like /app"),
    ([], {"SCRIPT_NAME": "/app/"}, "--root-path: not a path prefix like /app"),
])
def test_bad_values_one_line_exit_2(args, env, needle):
    environ = dict(os.environ, PYTHONPATH=PACKAGE_DIR, **env)
    r = subprocess.run([SERVER_PYTHON, "-m", "anvil", "--bind", "127.0.0.1:0", *args, APP],
                       capture_output=True, text=True, timeout=60, env=environ, cwd=TESTS)
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("anvil: error:") and needle in lines[0], r.stderr
