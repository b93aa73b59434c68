"""The pure-Python reference server (`python3 -m anvil.refserver`, ladder steps
1 and 2), end to end over real sockets, with each of its parsers.

The server runs under $ANVIL_TEST_PYTHON (or $ANVIL_SERVER_PYTHON; default
/usr/bin/python3), so the suite's PyPy pass runs it on PyPy; it is started on
port 0 and used once it printed its "anvil: listening on" line.
"""

import http.client
import os
import re
import select
import signal
import socket
import subprocess
import textwrap
import time

import pytest

from support import PACKAGE_DIR, Reader
SERVER_PYTHON = (os.environ.get("ANVIL_TEST_PYTHON") or os.environ.get("ANVIL_SERVER_PYTHON")
                 or "/usr/bin/python3")
LISTENING = re.compile(rb"anvil: listening on http://([0-9.]+|\[[0-9a-f:]+\]):(\d+)")
START_TIMEOUT_S = 30.0

APP = textwrap.dedent('''
    import json

    closed = []

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/hello":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
            return [b"Hello, World!"]
        if path.startswith(("/environ", "/a b")):
            body = environ["wsgi.input"].read()
            keys = {k: v for k, v in environ.items() if isinstance(v, str)}
            keys["body"] = body.decode("latin-1")
            keys["wsgi.version"] = list(environ["wsgi.version"])
            keys["closed"] = len(closed)
            data = json.dumps(keys).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [data]
        if path == "/stream":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return Stream([b"one ", b"", b"two ", b"three"])
        if path == "/write":
            write = start_response("200 OK", [("Content-Length", "11")])
            write(b"hello ")
            return [b"world"]
        if path == "/raise":
            raise RuntimeError("the app failed on purpose")
        if path == "/badheader":
            start_response("200 OK", [("X-Split", "a\\r\\nInjected: yes")])
            return [b"no"]
        start_response("404 Not Found", [("Content-Length", "0")])
        return []

    class Stream:
        def __init__(self, chunks):
            self.chunks = chunks
        def __iter__(self):
            return iter(self.chunks)
        def close(self):
            closed.append(1)
''')


class RefServerProcess:
    """One `SERVER_PYTHON -m anvil.refserver` process on 127.0.0.1:0."""

    def __init__(self, parser, app_dir):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([PACKAGE_DIR, str(app_dir)])
        cmd = [SERVER_PYTHON, "-m", "anvil.refserver", "--bind", "127.0.0.1:0",
               "--parser", parser, "--max-body-size", "1000000", "refapp:app"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env)
        self.log = b""
        self.port = self._wait_listening()

    def _wait_listening(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        fd = self.proc.stderr.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                continue
            data = os.read(fd, 4096)
            if not data:
                raise RuntimeError(f"refserver exited before listening: {self.log!r}")
            self.log += data
            m = LISTENING.search(self.log)
            if m:
                return int(m.group(2))
        raise TimeoutError(f"refserver did not start in {START_TIMEOUT_S}s: {self.log!r}")

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=15)
        self.log += self.proc.stderr.read()
        self.proc.stderr.close()
        return rc


@pytest.fixture(scope="module", params=["python", "fast", "llhttp", "http-parser"])
def server(request, tmp_path_factory):
    app_dir = tmp_path_factory.mktemp("refapp")
    (app_dir / "refapp.py").write_text(APP)
    s = RefServerProcess(request.param, app_dir)
    yield s
    assert s.stop() == 0, s.log


def roundtrip(server, raw, count=1, head_request=False, wait_close=True):
    """Sends raw bytes on a new connection; returns `count` responses and
    whether the server then closed it (within 10 s when wait_close, else at once)."""
    with server.connect() as sock:
        sock.sendall(raw)
        reader = Reader(sock)
        responses = [reader.response(head_request=head_request) for _ in range(count)]
        return responses, reader.closed(timeout=10 if wait_close else 0.01)


def http_get(conn, path, headers=None):
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    return resp.status, dict(resp.getheaders()), resp.read()


def test_get_hello(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    status, headers, body = http_get(conn, "/hello")
    assert (status, body) == (200, b"Hello, World!")
    assert headers["Content-Length"] == "13"
    assert "Date" in headers and headers["Server"] == "anvil-refserver"
    conn.close()


def test_keep_alive_serves_many_requests_on_one_connection(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.connect()
    local = conn.sock.getsockname()
    for _ in range(5):
        status, _, body = http_get(conn, "/hello")
        assert (status, body) == (200, b"Hello, World!")
    assert conn.sock is not None and conn.sock.getsockname() == local
    conn.close()


def test_http10_closes_unless_keep_alive_asked(server):
    (resp,), closed = roundtrip(server, b"GET /hello HTTP/1.0\r\n\r\n")
    assert resp.status == 200 and resp.body == b"Hello, World!" and closed
    raw = b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2
    with server.connect() as sock:
        sock.sendall(raw)
        reader = Reader(sock)
        for _ in range(2):
            resp = reader.response()
            assert resp.header("Connection") == "keep-alive"
            assert resp.body == b"Hello, World!"
        assert not reader.closed(timeout=0.2)


def test_connection_close_is_honoured(server):
    (resp,), closed = roundtrip(server, b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert resp.status == 200 and resp.header("Connection") == "close" and closed


def test_pipelined_requests_answered_in_order(server):
    raw = b"".join(b"GET /environ?n=%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(10))
    with server.connect() as sock:
        sock.sendall(raw)
        reader = Reader(sock)
        queries = [_json(reader.response())["QUERY_STRING"] for _ in range(10)]
    assert queries == [f"n={i}" for i in range(10)]


def test_environ_is_pep3333(server):
    raw = (b"POST /a%20b/c?x=1&y=%20 HTTP/1.1\r\nHost: example:8080\r\n"
           b"Content-Type: text/plain\r\nContent-Length: 5\r\nX-Rep: 1\r\nX-Rep: 2\r\n"
           b"X_Spoof: bad\r\nUser-Agent:  ua  \r\n\r\nhello")
    (resp,), _ = roundtrip(server, raw, wait_close=False)
    env = _json(resp)
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/a b/c"
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_NAME"] == "127.0.0.1" and env["SERVER_PORT"] == str(server.port)
    assert env["REMOTE_ADDR"] == "127.0.0.1" and env["REMOTE_PORT"].isdigit()
    assert env["CONTENT_TYPE"] == "text/plain" and env["CONTENT_LENGTH"] == "5"
    assert env["HTTP_HOST"] == "example:8080"
    assert env["HTTP_X_REP"] == "1,2"
    assert env["HTTP_USER_AGENT"] == "ua"
    assert "HTTP_X_SPOOF" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["wsgi.url_scheme"] == "http" and env["wsgi.version"] == [1, 0]
    assert env["body"] == "hello"


def test_chunked_request_body(server):
    # (The trailer was "Trailer: x" until issue 8 made it a forbidden trailer.)
    raw = (b"POST /environ HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nChecksum: x\r\n\r\n")
    (resp,), _ = roundtrip(server, raw, wait_close=False)
    assert _json(resp)["body"] == "hello world"


def test_framing_field_as_trailer_is_400(server):
    # RFC 9110 section 6.5.1 (parser/RULES.md "Trailers"); issue 8.
    raw = (b"POST /environ HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n")
    (resp,), _ = roundtrip(server, raw)
    assert resp.status == 400


def test_body_split_across_many_writes(server):
    body = bytes(range(256)) * 40
    head = b"POST /environ HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
    with server.connect() as sock:
        raw = head + body
        for i in range(0, len(raw), 997):
            sock.sendall(raw[i:i + 997])
        env = _json(Reader(sock).response())
    assert env["body"].encode("latin-1") == body


def test_expect_100_continue(server):
    with server.connect() as sock:
        sock.sendall(b"POST /environ HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        reader = Reader(sock)
        interim = reader.response()
        assert interim.status == 100
        sock.sendall(b"data")
        assert _json(reader.response())["body"] == "data"


def test_head_has_no_body(server):
    (resp,), _ = roundtrip(server, b"HEAD /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                           head_request=True)
    assert resp.status == 200 and resp.header("Content-Length") == "13"
    with server.connect() as sock:
        sock.sendall(b"HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        reader = Reader(sock)
        reader.response(head_request=True)
        assert reader.response().body == b"Hello, World!"  # nothing stray from the HEAD


def test_streamed_response_is_chunked_and_closed(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    status, headers, body = http_get(conn, "/stream")
    assert (status, body) == (200, b"one two three")
    assert headers["Transfer-Encoding"] == "chunked"
    _, _, after = http_get(conn, "/environ")
    assert json_loads(after)["closed"] >= 1  # close() of the iterable was called
    conn.close()


def test_write_callable(server):
    (resp,), _ = roundtrip(server, b"GET /write HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert resp.body == b"hello world"


def test_app_errors_are_500_and_the_server_goes_on(server):
    for path in (b"/raise", b"/badheader"):
        (resp,), closed = roundtrip(server, b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path)
        assert resp.status == 500 and closed
        assert resp.header("Injected") is None
    (resp,), _ = roundtrip(server, b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert resp.status == 200


BAD_REQUESTS = [
    ("missing_host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("bare_lf", b"GET / HTTP/1.1\nHost: t\n\n", 400),
    ("bare_cr_in_value", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n", 400),
    ("obs_fold", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400),
    ("space_before_colon", b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400),
    ("cl_and_te", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n", 400),
    ("bad_content_length", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +3\r\n\r\nabc", 400),
    ("bad_chunk_size", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ("unknown_coding", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: foo, chunked\r\n\r\n", 501),
    ("version", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    ("body_too_large", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n", 413),
    ("request_line_too_long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    ("too_many_fields", b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),
]


@pytest.mark.parametrize("name,raw,status", BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_request_gets_its_status_and_close(server, name, raw, status):
    (resp,), closed = roundtrip(server, raw)
    assert resp.status == status, name
    assert resp.header("Connection") == "close" and closed
    (ok,), _ = roundtrip(server, b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert ok.status == 200


def test_good_request_before_a_bad_one_is_answered(server):
    raw = b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/9.9\r\n\r\n"
    (first, second), closed = roundtrip(server, raw, count=2)
    assert (first.status, first.body) == (200, b"Hello, World!")
    assert second.status == 505 and closed


def test_many_concurrent_connections(server):
    socks = [server.connect() for _ in range(50)]
    try:
        for s in socks:
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        for s in socks:
            assert Reader(s).response().body == b"Hello, World!"
    finally:
        for s in socks:
            s.close()


def test_sigterm_exits_zero(tmp_path):
    (tmp_path / "refapp.py").write_text(APP)
    s = RefServerProcess("python", tmp_path)
    assert s.stop() == 0


def test_unknown_parser_is_refused(tmp_path):
    (tmp_path / "refapp.py").write_text(APP)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([PACKAGE_DIR, str(tmp_path)]))
    proc = subprocess.run([SERVER_PYTHON, "-m", "anvil.refserver", "--parser", "nope", "refapp:app"],
                          env=env, capture_output=True, timeout=60)
    assert proc.returncode == 2 and b"nope" in proc.stderr


def _json(resp):
    assert resp.status == 200, resp
    return json_loads(resp.body)


def json_loads(data):
    import json
    return json.loads(data)
