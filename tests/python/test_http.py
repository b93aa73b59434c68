"""HTTP/1.1 over raw sockets against the hello/cases apps: keep-alive,
pipelining, chunked uploads, 100-continue, HEAD, HTTP/1.0, bad input, timeouts,
clients that go away."""

import socket
import time

import pytest

from support import Reader, Server, get, request

APP = "apps.cases:app"


@pytest.fixture(scope="module")
def server():
    s = Server(APP, "--max-body-size", "1000", "--limit-request-line", "200",
               "--limit-request-fields", "20", "--limit-request-field-size", "2000")
    yield s
    s.stop()


def test_keep_alive_reuses_connection(server):
    with server.connect() as s:
        reader = Reader(s)
        for i in range(5):
            s.sendall(b"GET /pid HTTP/1.1\r\nHost: t\r\n\r\n")
            r = reader.response()
            assert r.status == 200 and r.header("Connection", "keep-alive").lower() != "close"
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        r = reader.response()
        assert r.body == b"Hello, World!" and r.header("Connection").lower() == "close"
        assert reader.closed()


def test_http10_closes_unless_keep_alive(server):
    with server.connect() as s:
        s.sendall(b"GET /hello HTTP/1.0\r\n\r\n")
        reader = Reader(s)
        r = reader.response()
        assert r.version == "HTTP/1.1" or r.version == "HTTP/1.0"
        assert r.body == b"Hello, World!"
        assert reader.closed()
    with server.connect() as s:
        reader = Reader(s)
        for _ in range(2):
            s.sendall(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = reader.response()
            assert r.body == b"Hello, World!" and r.header("Connection").lower() == "keep-alive"


def test_pipelined_requests_answered_in_order(server):
    reqs = b"".join(b"GET /stream?%d HTTP/1.1\r\nHost: t\r\n\r\n" % (i + 1) for i in range(10))
    with server.connect() as s:
        s.sendall(reqs)
        reader = Reader(s)
        for i in range(10):
            r = reader.response()
            assert r.body == b"".join(b"%06d\n" % k for k in range(i + 1)), i


def test_nothing_after_a_closing_request_is_answered(server):
    # RFC 9112 section 9.6 (parser/RULES.md): the second request is not parsed.
    with server.connect() as s:
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                  b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        reader = Reader(s)
        assert reader.response().body == b"Hello, World!"
        assert reader.closed()


def test_chunked_upload_with_trailers(server):
    raw = (b"POST /input/read HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n")
    r = request(server, raw)
    assert r.status == 200 and r.body == b'["Wikipedia"]'


def test_expect_100_continue(server):
    with server.connect() as s:
        s.sendall(b"POST /input/read HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
                  b"Connection: close\r\n\r\n")
        reader = Reader(s)
        assert reader.response().status == 100
        s.sendall(b"hello")
        r = reader.response()
    assert r.status == 200 and r.body == b'["hello"]'


def test_expect_100_continue_unread_body_gets_final_answer(server):
    # The app never reads the body: no 100 Continue, just the answer
    # (RFC 9110 §10.1.1), and the unsent body cannot be mistaken for a request.
    with server.connect() as s:
        s.sendall(b"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        reader = Reader(s)
        r = reader.response()
        assert r.status == 200 and r.body == b"Hello, World!"


def test_pipelined_with_threads_stay_in_order(start_server):
    s = start_server(APP, "--threads", "4")
    with s.connect() as sock:
        # The first answer takes longest; the answers must still come in order.
        sock.sendall(b"GET /sleep?0.5 HTTP/1.1\r\nHost: t\r\n\r\n"
                     b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                     b"GET /stream?3 HTTP/1.1\r\nHost: t\r\n\r\n")
        reader = Reader(sock)
        assert reader.response().body == b"slept"
        assert reader.response().body == b"Hello, World!"
        assert reader.response().body == b"000000\n000001\n000002\n"


def test_head_sends_headers_only(server):
    with server.connect() as s:
        s.sendall(b"HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        reader = Reader(s)
        head = reader.response(head_request=True)
        assert head.status == 200 and head.header("Content-Length") == "13"
        # No body bytes between the two responses.
        follow = reader.response()
        assert follow.body == b"Hello, World!"


BAD = [
    ("bad_request_line", b"GET  / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("bad_header", b"GET / HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n", 400),
    ("obs_fold", b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n  b\r\n\r\n", 400),
    ("missing_host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("smuggling_cl_te", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("body_too_large", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 413),
    ("uri_too_long", b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    ("too_many_fields", b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(30)) + b"\r\n", 431),
    ("header_too_large", b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"v" * 3000 + b"\r\n\r\n", 431),
    ("unknown_coding", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: foo, chunked\r\n\r\n", 501),
    ("version", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    # Issue 8 (parser/RULES.md "Request target", "Trailers"): all reached the app before.
    ("relative_target", b"GET foo/bar HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("asterisk_for_get", b"GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("authority_for_get", b"GET t:80 HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("raw_utf8_target", b"GET /caf\xc3\xa9?q=\xff HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("fragment", b"GET /a#frag HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("bad_escape", b"GET /a%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("connect_with_length", b"CONNECT t:443 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 400),
] + [
    ("trailer_" + name.lower().replace("-", "_"),
     b"POST /input/read HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"1\r\nx\r\n0\r\n" + name.encode() + b": 1\r\n\r\n", 400)
    for name in ("Content-Length", "Transfer-Encoding", "Host")
]


@pytest.mark.parametrize("name,raw,status", BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_4xx_and_others_are_served(server, name, raw, status):
    with server.connect() as other:
        # A connection already open keeps being served around the bad one.
        other_reader = Reader(other)
        other.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        assert other_reader.response().status == 200
        with server.connect() as bad:
            bad.sendall(raw)
            reader = Reader(bad)
            r = reader.response()
            assert r.status == status, (name, r)
            assert r.header("Connection").lower() == "close"
            assert reader.closed()
        other.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        assert other_reader.response().body == b"Hello, World!"


def test_header_timeout_cuts_off_slow_client(start_server):
    s = start_server(APP, "--timeout", "1")
    started = time.monotonic()
    with s.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
        cut = None
        # One header line every 0.4 s (never idle for a whole second) for up
        # to 20 s: the cut must come from the 1 s head timeout, long before;
        # the bound leaves room for a busy machine's late timer.
        for i in range(50):
            try:
                sock.sendall(b"X-Slow-%d: v\r\n" % i)
            except (BrokenPipeError, ConnectionResetError):
                cut = time.monotonic() - started
                break
            sock.settimeout(0.4)
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                data = b""
            cut = time.monotonic() - started
            assert data == b"" or data.startswith(b"HTTP/1.1 408"), data
            break
    assert cut is not None, "the server let a slowloris client go on for 20 s"
    assert 0.9 <= cut < 12.0, cut
    assert get(s, "/hello").status == 200


def test_client_disconnect_mid_response_does_not_disturb_worker(server):
    pid = get(server, "/pid").body
    for _ in range(3):
        s = server.connect()
        s.sendall(b"GET /big?%d HTTP/1.1\r\nHost: t\r\n\r\n" % (50 * 1024 * 1024))
        s.recv(1024)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # reset while the server is writing
    with server.connect() as s:
        s.sendall(b"GET /stream?5 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        s.close()  # gone before the answer
    assert get(server, "/pid").body == pid
    assert get(server, "/hello").body == b"Hello, World!"
    # The generator of each abandoned response was closed.
    assert "Traceback" not in server.log
