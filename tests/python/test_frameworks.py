"""Real frameworks from Debian (python3-flask, python3-falcon, python3-bottle)
served by anvil: routing, a form POST, JSON, a multipart upload, a streamed
response, a 10 MB request body and a 10 MB response. Client: http.client."""

import hashlib
import http.client
import json
import os

import pytest

from support import Server

FRAMEWORKS = ["flask", "falcon", "bottle"]
TEN_MB = 10 * 1024 * 1024


@pytest.fixture(scope="module", params=FRAMEWORKS)
def server(request):
    s = Server(f"apps.{request.param}_app:app")
    yield s
    s.stop()


def call(server, method, path, body=None, headers=None, encode_chunked=False):
    host, port = server.address
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=encode_chunked)
        resp = conn.getresponse()
        return resp.status, {k.title(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_routing(server):
    status, _, body = call(server, "GET", "/hello/anvil")
    assert status == 200 and body == b"Hello, anvil!"
    status, _, _ = call(server, "GET", "/no/such/route")
    assert status == 404


def test_form_post(server):
    status, _, body = call(server, "POST", "/form", "a=1&b=caf%C3%A9",
                           {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and body.decode() == "a=1;b=café"


def test_json_in_and_out(server):
    status, headers, body = call(server, "POST", "/json", json.dumps({"numbers": [1, 2, 39], "echo": "é"}),
                                 {"Content-Type": "application/json"})
    assert status == 200 and "json" in headers["Content-Type"]
    assert json.loads(body) == {"sum": 42, "echo": "é"}


def test_multipart_upload(server):
    data = os.urandom(200_000)
    boundary = "anvilboundary1234"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"field\"\r\n\r\nvalue\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"blob.bin\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    status, _, resp = call(server, "POST", "/upload", body,
                           {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 200, resp
    assert json.loads(resp) == {"filename": "blob.bin", "size": len(data),
                                "sha256": hashlib.sha256(data).hexdigest(), "field": "value"}


def test_streamed_response(server):
    status, headers, body = call(server, "GET", "/stream")
    assert status == 200
    assert body == "".join(f"chunk {i}\n" for i in range(100)).encode()
    assert headers.get("Transfer-Encoding") == "chunked"


def test_ten_mb_request_body(server):
    data = os.urandom(TEN_MB)
    status, _, body = call(server, "POST", "/big-body", data, {"Content-Type": "application/octet-stream"})
    assert status == 200
    assert json.loads(body) == {"size": TEN_MB, "sha256": hashlib.sha256(data).hexdigest()}


def test_ten_mb_chunked_request_body(server, request):
    # Falcon's bounded_stream reads CONTENT_LENGTH bytes only, and Bottle 0.12
    # de-chunks wsgi.input itself when it sees Transfer-Encoding: chunked:
    # neither takes a chunked body from any WSGI server. Flask honours
    # wsgi.input_terminated.
    if "flask" not in request.node.callspec.id:
        pytest.skip("the framework does not read chunked request bodies through WSGI")
    data = os.urandom(TEN_MB)
    status, _, body = call(server, "POST", "/big-body", iter([data[i:i + 65536] for i in range(0, TEN_MB, 65536)]),
                           {"Content-Type": "application/octet-stream", "Transfer-Encoding": "chunked"},
                           encode_chunked=True)
    assert status == 200
    assert json.loads(body) == {"size": TEN_MB, "sha256": hashlib.sha256(data).hexdigest()}


def test_ten_mb_response(server):
    status, headers, body = call(server, "GET", "/big-response")
    assert status == 200 and len(body) == TEN_MB and body == b"f" * TEN_MB
    assert headers["Content-Length"] == str(TEN_MB)
