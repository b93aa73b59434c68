"""PEP 3333 environ: every key, checked against apps wrapped in
wsgiref.validate.validator with warnings as errors (a violation is a 500)."""

import json

import pytest

from support import Reader, get, request

APP = "apps.environ_app:app"


@pytest.fixture(scope="module")
def server():
    from support import Server

    s = Server(APP)
    yield s
    s.stop()


def env_of(resp):
    assert resp.status == 200, (resp.status, resp.body)
    return json.loads(resp.body)


def test_cgi_keys(server):
    host, port = server.address
    env = env_of(get(server, "/caf%C3%A9/a%20b%2Fc?x=%20y&z=1"))
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    # Percent-decoded, one code point per byte (latin-1), %2F decoded too.
    assert env["PATH_INFO"] == "/caf\xc3\xa9/a b/c"
    assert env["QUERY_STRING"] == "x=%20y&z=1"  # raw
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_NAME"] == host
    assert env["SERVER_PORT"] == str(port)
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"].isdigit() and 0 < int(env["REMOTE_PORT"]) < 65536
    assert "CONTENT_LENGTH" not in env and "CONTENT_TYPE" not in env
    assert env["HTTP_HOST"] == "test"


def test_wsgi_keys(server):
    env = env_of(get(server, "/"))
    assert env["wsgi.version"] == [1, 0]
    assert env["types"]["wsgi.version"] == "tuple"
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is False
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True
    assert env["has_file_wrapper"] is True
    assert env["errors_api"] is True
    assert env["QUERY_STRING"] == ""


def test_body_content_type_and_length(server):
    body = b"a=1&b=\xe9"
    raw = (b"POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
           b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)) + body
    env = env_of(request(server, raw))
    assert env["REQUEST_METHOD"] == "POST"
    assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert env["CONTENT_LENGTH"] == str(len(body))
    assert env["body"] == body.decode("latin-1")
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env


def test_http_headers_repeated_joined_and_underscores_dropped(server):
    raw = (b"GET / HTTP/1.1\r\nHost: t\r\nX-Multi: one\r\nx-multi: two\r\nAccept: a/b\r\n"
           b"X-Forwarded-For: 10.0.0.1\r\nX_Forwarded_For: 6.6.6.6\r\nX-Latin: caf\xe9\r\n"
           b"Connection: close\r\n\r\n")
    env = env_of(request(server, raw))
    assert env["HTTP_X_MULTI"] == "one,two"
    assert env["HTTP_ACCEPT"] == "a/b"
    # The underscore spelling would spoof the proxy's header: dropped.
    assert env["HTTP_X_FORWARDED_FOR"] == "10.0.0.1"
    assert env["HTTP_X_LATIN"] == "caf\xe9"
    assert env["HTTP_CONNECTION"] == "close"


def test_http10_protocol(server):
    env = env_of(request(server, b"GET /old HTTP/1.0\r\n\r\n"))
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert "HTTP_HOST" not in env


def test_chunked_body_is_terminated_input(server):
    raw = (b"PUT /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n")
    env = env_of(request(server, raw))
    assert env["REQUEST_METHOD"] == "PUT"
    assert "CONTENT_LENGTH" not in env
    assert env["HTTP_TRANSFER_ENCODING"] == "chunked"
    assert env["body"] == "hello world"


def test_absolute_form_target(server):
    env = env_of(request(server, b"GET http://example.com/p%41th?q=1 HTTP/1.1\r\nHost: example.com\r\n"
                                 b"Connection: close\r\n\r\n"))
    assert env["PATH_INFO"] == "/pAth"
    assert env["QUERY_STRING"] == "q=1"


def test_other_methods(server):
    for method in ("DELETE", "PATCH", "OPTIONS"):
        env = env_of(request(server, f"{method} /m HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()))
        assert env["REQUEST_METHOD"] == method


def test_environ_fresh_per_request(server):
    with server.connect() as s:
        reader = Reader(s)
        s.sendall(b"GET /a?q=1 HTTP/1.1\r\nHost: t\r\nX-One: 1\r\n\r\n")
        first = env_of(reader.response())
        s.sendall(b"GET /b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        second = env_of(reader.response())
    assert first["PATH_INFO"] == "/a" and first["HTTP_X_ONE"] == "1"
    assert second["PATH_INFO"] == "/b" and second["QUERY_STRING"] == "" and "HTTP_X_ONE" not in second
    assert first["REMOTE_PORT"] == second["REMOTE_PORT"]


def test_no_validator_complaints_in_log(server):
    get(server, "/")
    assert "Traceback" not in server.log
    assert "without being closed" not in server.log


def test_ipv6_and_unix_listeners(start_server, tmp_path):
    path = str(tmp_path / "anvil.sock")
    s = start_server(APP, binds=("[::1]:0", f"unix:{path}"))
    assert s.urls[0].startswith("http://[::1]:") and s.urls[1] == f"unix:{path}"
    env = env_of(get(s, "/six"))
    assert env["REMOTE_ADDR"] == "::1" and env["SERVER_NAME"] == "::1"
    import socket

    with socket.socket(socket.AF_UNIX) as u:
        u.settimeout(10)
        u.connect(path)
        u.sendall(b"GET /unix HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        env = env_of(Reader(u).response())
    assert env["PATH_INFO"] == "/unix"
    assert env["REMOTE_ADDR"] == ""


def test_multithread_and_multiprocess_flags(start_server):
    s = start_server(APP, "--threads", "3", "--workers", "2")
    env = env_of(get(s, "/"))
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is True
