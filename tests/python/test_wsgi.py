"""PEP 3333 behaviour of the WSGI handler: response framing, start_response,
write(), close(), errors, wsgi.input and wsgi.file_wrapper. Each case runs
with the app on the loop thread (--threads 1) and on Python threads (--threads 4)."""

import json
import os

import pytest

from support import Reader, get, post, request

APP = "apps.cases:app"


@pytest.fixture(scope="module", params=["1", "4"], ids=["threads1", "threads4"])
def server(request):
    from support import Server

    s = Server(APP, "--threads", request.param)
    yield s
    s.stop()


def closed_count(server):
    return int(get(server, "/closed-count").body)


# --- framing ---------------------------------------------------------------

def test_one_item_list_gets_content_length(server):
    r = get(server, "/one")
    assert r.status == 200 and r.body == b"12345"
    assert r.header("Content-Length") == "5" and r.header("Transfer-Encoding") is None


def test_several_items_chunked_on_http11(server):
    r = get(server, "/list")
    assert r.body == b"abcd"
    assert r.header("Transfer-Encoding") == "chunked" and r.header("Content-Length") is None


def test_generator_chunked_on_http11_and_close_delimited_on_http10(server):
    r = get(server, "/gen")
    assert r.body == b"part0;part1;part2;part3;part4;"
    assert r.header("Transfer-Encoding") == "chunked"
    r10 = request(server, b"GET /gen HTTP/1.0\r\n\r\n")
    assert r10.body == b"part0;part1;part2;part3;part4;"
    assert r10.header("Transfer-Encoding") is None and r10.header("Content-Length") is None


def test_empty_first_item_does_not_break_the_response(server):
    assert get(server, "/empty-first").body == b"late"


def test_server_headers_present(server):
    r = get(server, "/hello")
    assert r.body == b"Hello, World!"
    assert r.header("Date") and r.header("Server")


def test_no_content(server):
    r = get(server, "/no-content")
    assert r.status == 204 and r.body == b""


def test_write_callable(server):
    r = get(server, "/write")
    assert r.status == 200 and r.body == b"written;returned"
    r = get(server, "/write-only")
    assert r.body == b"abcdef" and r.header("Content-Length") == "6"


# --- close() -----------------------------------------------------------------

def test_close_called_on_success(server):
    before = closed_count(server)
    assert get(server, "/tracked").body == b"xy"
    assert closed_count(server) >= before + 1


def test_close_called_when_iteration_fails(server):
    before = closed_count(server)
    r = get(server, "/exc-iter-first")
    assert r.status == 500
    # threads4: the counter lives in one process; any thread may answer.
    assert closed_count(server) >= before + 1


# --- errors -------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/exc-before", "/exc-after-start", "/exc-iter-first", "/bad-status", "/bad-status?crlf",
    "/bad-status-type", "/bad-header-value", "/bad-header-name", "/bad-header-type",
    "/bad-body-type", "/start-twice", "/no-start",
])
def test_error_before_head_is_500_and_server_lives(server, path):
    r = get(server, path)
    assert r.status == 500, (path, r)
    assert r.body == b"Internal Server Error\n"
    assert b"X-Evil" not in r.body and r.header("X-Evil") is None and r.header("Set-Cookie") is None
    assert get(server, "/hello").body == b"Hello, World!"


def test_traceback_logged(server):
    get(server, "/exc-before")
    server.wait_for_log(r"RuntimeError: the app failed before start_response")
    assert "Traceback" in server.log


def read_until_close(sock, limit=1 << 24):
    data = b""
    while len(data) < limit:
        try:
            piece = sock.recv(65536)
        except ConnectionResetError:
            break
        if not piece:
            break
        data += piece
    return data


def test_error_after_head_closes_connection(server):
    with server.connect() as s:
        s.sendall(b"GET /exc-iter-late HTTP/1.1\r\nHost: t\r\n\r\n")
        data = read_until_close(s)
    # The head and the first piece went out; then the connection was closed
    # without the last chunk, so the client can tell the body is incomplete.
    assert data.startswith(b"HTTP/1.1 200 ") and b"first;" in data
    assert not data.endswith(b"0\r\n\r\n")
    assert get(server, "/hello").status == 200


def test_body_past_content_length_is_not_sent(server):
    # A keep-alive client would read the excess as the start of the next
    # response (RFC 9112 §6.3): it is dropped, and the connection closes.
    with server.connect() as s:
        s.sendall(b"GET /overlong HTTP/1.1\r\nHost: t\r\n\r\n")
        data = read_until_close(s)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and body == b"abc"


def test_close_failing_after_body_closes_connection(server):
    with server.connect() as s:
        s.sendall(b"GET /exc-close HTTP/1.1\r\nHost: t\r\n\r\n")
        data = read_until_close(s)
    assert data.startswith(b"HTTP/1.1 200 ") and not data.endswith(b"0\r\n\r\n")
    server.wait_for_log("RuntimeError: close failed")
    assert get(server, "/hello").status == 200


def test_exc_info_replaces_unsent_head(server):
    r = get(server, "/exc-info")
    assert r.status == 503 and r.body == b"error page" and r.header("X-First") is None


def test_exc_info_after_head_reraises_and_closes(server):
    with server.connect() as s:
        s.sendall(b"GET /exc-info-late HTTP/1.1\r\nHost: t\r\n\r\n")
        data = read_until_close(s)
    assert b"sent;" in data and b"unreachable" not in data and not data.endswith(b"0\r\n\r\n")
    server.wait_for_log(r"ValueError: too late")
    assert get(server, "/hello").status == 200


# --- wsgi.input -------------------------------------------------------------------

BODY = b"line one\nline two\n\nlast line without newline"


@pytest.mark.parametrize("mode,expected", [
    ("read", [BODY]),
    ("read-minus", [BODY]),
    ("readline", [l + b"\n" for l in BODY.split(b"\n")[:-1]] + [b"last line without newline"]),
    ("readlines", [l + b"\n" for l in BODY.split(b"\n")[:-1]] + [b"last line without newline"]),
    ("iter", [l + b"\n" for l in BODY.split(b"\n")[:-1]] + [b"last line without newline"]),
    ("readline-limit", [b"lin", b"e one\n"]),
    ("read-after-end", [BODY, b"", b"", b""]),
])
def test_input_modes(server, mode, expected):
    r = post(server, f"/input/{mode}", BODY)
    assert r.status == 200, r
    assert [p.encode("latin-1") for p in json.loads(r.body)] == expected


def test_input_read_n_pieces(server):
    r = post(server, "/input/readn?7", BODY)
    pieces = [p.encode("latin-1") for p in json.loads(r.body)]
    assert b"".join(pieces) == BODY and all(len(p) == 7 for p in pieces[:-1])


def test_input_no_body_reads_empty(server):
    r = get(server, "/input/read")
    assert json.loads(r.body) == [""]


def test_input_expect_continue(server):
    with server.connect() as s:
        s.sendall(b"POST /input/readline HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n"
                  b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
        reader = Reader(s)
        interim = reader.response()
        assert interim.status == 100
        s.sendall(b"ab\ncd\nef\n")
        r = reader.response()
    assert json.loads(r.body) == ["ab\n", "cd\n", "ef\n"]


# --- file_wrapper ----------------------------------------------------------------

def random_file(tmp_path, size):
    """(path, bytes): a file of size random bytes."""
    data = os.urandom(size)
    f = tmp_path / "blob"
    f.write_bytes(data)
    return f, data


def test_file_wrapper_sendfile(server, tmp_path):
    f, data = random_file(tmp_path, 300_000)
    r = get(server, f"/file?{f}")
    assert r.status == 200 and r.body == data and r.header("Content-Length") == str(len(data))
    r = get(server, f"/file-nolength?{f}")
    assert r.body == data[10:] and r.header("Content-Length") == str(len(data) - 10)


def test_file_wrapper_sends_from_the_descriptor(server, tmp_path):
    # read() of this file-like object answers something else than its descriptor
    # holds: only a server that sends from the descriptor (sendfile) gets the bytes.
    f, data = random_file(tmp_path, 200_000)
    r = get(server, f"/file-fd-only?{f}")
    assert r.status == 200 and r.body == data
    assert r.header("Content-Length") == str(len(data))


def test_file_wrapper_close_failing_is_logged_and_contained(server, tmp_path):
    # PEP 3333: close() after the file went out; its error is the app's, logged,
    # and left behind: the next request on the worker is served as usual.
    f, data = random_file(tmp_path, 100_000)
    r = get(server, f"/file-close-fails?{f}")
    assert r.status == 200 and r.body == data
    server.wait_for_log("RuntimeError: file close failed")
    for _ in range(3):
        assert get(server, "/hello").status == 200


def test_file_wrapper_without_fileno(server):
    r = get(server, "/filelike")
    assert r.body == b"0123456789" * 1000


# --- streaming and size -------------------------------------------------------------

def test_streamed_response(server):
    r = get(server, "/stream?1000")
    assert r.body == b"".join(b"%06d\n" % i for i in range(1000))


def test_big_response(server):
    r = get(server, f"/big?{10 * 1024 * 1024}")
    assert len(r.body) == 10 * 1024 * 1024 and r.body == b"z" * (10 * 1024 * 1024)


def test_wsgi_errors_goes_to_log(server):
    assert get(server, "/errors").body == b"logged"
    server.wait_for_log("app says: to the error log")
    server.wait_for_log("line two")
