"""One request on a raw socket, to check a server before it is measured.

fetch() sends exact request bytes and reads one response (framed by
Content-Length, chunked, or the end of the connection); verify() raises
AssertionError unless the status and the start of the body are as expected.
"""

import re
import socket
import time


class Response:
    def __init__(self, status, headers, body, raw):
        self.status = status      # int, or None if no status line came
        self.headers = headers    # [(lower-case name, value)], latin-1 strings
        self.body = body          # bytes, de-chunked
        self.raw = raw

    def header(self, name):
        name = name.lower()
        return next((v for n, v in self.headers if n == name), None)


def _complete(data):
    """The length of the first whole response in data, or None."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = data[:head_end]
    m = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
    if m:
        end = head_end + 4 + int(m.group(1))
        return end if len(data) >= end else None
    if re.search(rb"\r\ntransfer-encoding:[^\r]*chunked", head, re.I):
        end = data.find(b"\r\n0\r\n\r\n", head_end)
        return end + 7 if end >= 0 else None
    return None  # framed by the end of the connection


def _dechunk(body):
    out, pos = b"", 0
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            return out
        size = int(body[pos:eol].split(b";")[0], 16)
        if size == 0:
            return out
        out += body[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2


def fetch(host, port, request, timeout=10.0):
    """Sends request (bytes) and returns the first Response."""
    data = b""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(request)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _complete(data) is None:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    end = _complete(data) or len(data)
    head, _, body = data[:end].partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    if any(n == "transfer-encoding" and "chunked" in v.lower() for n, v in headers):
        body = _dechunk(body)
    return Response(status, headers, body, data[:end])


def verify(host, port, request, status=200, body=b"Hello, World!", timeout=10.0):
    """fetch(); raises AssertionError unless status matches and the body starts
    with `body` (None: any body). Returns the Response."""
    r = fetch(host, port, request, timeout)
    if r.status != status:
        line = r.raw.split(b"\r\n", 1)[0]
        raise AssertionError(f"expected status {status}, got {line[:80]!r}")
    if body is not None and r.body[:len(body)] != body:
        raise AssertionError(f"expected body {body!r}, got {r.body[:80]!r}")
    return r


def keep_alive_request(request):
    """The request without its Connection field (chrome-2013 says close)."""
    head, sep, rest = request.partition(b"\r\n\r\n")
    lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"connection:")]
    return b"\r\n".join(lines) + sep + rest
