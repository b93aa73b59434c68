"""One WSGI app whose PATH_INFO picks a behaviour the server must handle
(PEP 3333 edge cases). Not validated: several cases break the rules on purpose."""

import io
import json
import os
import sys
import time

# Per worker process: how many result iterables have had close() called.
_closed = {"count": 0}
# Per worker process: how many times the app was called (/calls counts itself).
_calls = {"count": 0}


class Tracked:
    """An iterable whose close() the server must call, however the response ends."""

    def __init__(self, items, fail_at=None, fail_close=False):
        self.items = list(items)
        self.fail_at = fail_at
        self.fail_close = fail_close

    def __iter__(self):
        for i, item in enumerate(self.items):
            if i == self.fail_at:
                raise RuntimeError(f"iteration failed at item {i}")
            yield item

    def close(self):
        _closed["count"] += 1
        if self.fail_close:
            raise RuntimeError("close failed")


def _text(start_response, body, status="200 OK", extra=()):
    data = body.encode("latin-1") if isinstance(body, str) else body
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))] + list(extra))
    return [data]


def _json(start_response, obj):
    return _text(start_response, json.dumps(obj))


def _input_mode(environ, mode):
    inp = environ["wsgi.input"]
    if mode == "read":
        return [inp.read()]
    if mode == "read-after-end":
        first = inp.read()
        return [first, inp.read(), inp.read(10), inp.readline()]
    if mode == "readn":
        out = []
        for _ in range(1000000):
            piece = inp.read(int(environ.get("QUERY_STRING") or 7))
            if not piece:
                break
            out.append(piece)
        return out
    if mode == "readline":
        out = []
        for _ in range(1000000):
            line = inp.readline()
            if not line:
                break
            out.append(line)
        return out
    if mode == "readline-limit":
        return [inp.readline(3), inp.readline(100)]
    if mode == "readlines":
        return inp.readlines()
    if mode == "iter":
        return list(inp)
    if mode == "read-minus":
        return [inp.read(-1)]
    raise ValueError(mode)


def app(environ, start_response):
    _calls["count"] += 1
    path = environ["PATH_INFO"]
    if path == "/calls":
        return _text(start_response, str(_calls["count"]))
    if path == "/hello":
        return _text(start_response, "Hello, World!")
    if path == "/pid":
        return _text(start_response, str(os.getpid()))
    if path == "/closed-count":
        return _text(start_response, str(_closed["count"]))
    if path.startswith("/input/"):
        pieces = _input_mode(environ, path[len("/input/"):])
        return _json(start_response, [p.decode("latin-1") for p in pieces])
    if path == "/one":  # one item, no Content-Length: the server adds it
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"12345"]
    if path == "/list":  # several items, length not given: chunked on 1.1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ab", b"", b"cd"]
    if path == "/gen":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (f"part{i};".encode() for i in range(5))
    if path == "/empty-first":  # headers wait for the first non-empty item (PEP 3333)
        def gen():
            yield b""
            yield b"late"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()
    if path == "/tracked":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Tracked([b"x", b"y"])
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written;")
        write(b"")
        return [b"returned"]
    if path == "/write-only":
        write = start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
        write(b"abc")
        write(b"def")
        return []
    if path == "/exc-before":
        raise RuntimeError("the app failed before start_response")
    if path == "/exc-after-start":
        start_response("200 OK", [("Content-Type", "text/plain")])
        raise RuntimeError("the app failed after start_response")
    if path == "/exc-iter-first":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Tracked([b"never"], fail_at=0)
    if path == "/exc-iter-late":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Tracked([b"first;", b"second"], fail_at=1)
    if path == "/exc-close":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Tracked([b"a", b"b"], fail_close=True)
    if path == "/bad-status":
        start_response(environ.get("QUERY_STRING") == "crlf" and "200 OK\r\nX-Evil: 1" or "20 OK", [])
        return [b"never"]
    if path == "/bad-status-type":
        start_response(200, [])
        return [b"never"]
    if path == "/bad-header-value":
        start_response("200 OK", [("X-Evil", "a\r\nSet-Cookie: x=1")])
        return [b"never"]
    if path == "/bad-header-name":
        start_response("200 OK", [("Bad Name", "v")])
        return [b"never"]
    if path == "/bad-header-type":
        start_response("200 OK", [("X-Bytes", b"v")])
        return [b"never"]
    if path == "/bad-body-type":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["a str, not bytes"]
    if path == "/exc-info":  # an error page replaces headers not yet sent
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "1")])
        try:
            raise ValueError("caught by the app")
        except ValueError:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"error page"]
    if path == "/exc-info-late":  # headers already sent: start_response re-raises
        def gen():
            yield b"sent;"
            try:
                raise ValueError("too late")
            except ValueError:
                start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
            yield b"unreachable"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()
    if path == "/start-twice":  # without exc_info a second call is an error
        start_response("200 OK", [("Content-Type", "text/plain")])
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [b"never"]
    if path == "/no-start":
        return [b"never"]
    if path == "/no-content":
        start_response("204 No Content", [])
        return []
    if path == "/file":
        name = environ["QUERY_STRING"]
        f = open(name, "rb")
        size = os.fstat(f.fileno()).st_size
        wrapper = environ["wsgi.file_wrapper"](f, 65536)
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
        return wrapper
    if path == "/file-nolength":
        f = open(environ["QUERY_STRING"], "rb")
        f.seek(10)  # sent from the current position
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](f)
    if path == "/overlong":  # more body than the declared Content-Length
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
        return [b"abcdef", b"ghi"]
    if path == "/file-fd-only":  # the descriptor and read() disagree: the body shows which was used
        f = open(environ["QUERY_STRING"], "rb")

        class FdOnly:
            def __init__(self):
                self.done = False

            def fileno(self):
                return f.fileno()

            def tell(self):
                return f.tell()

            def read(self, size=-1):
                if self.done:
                    return b""
                self.done = True
                return b"read() was used"

            def close(self):
                f.close()

        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](FdOnly())
    if path == "/file-close-fails":  # sent with sendfile, then close() raises
        f = open(environ["QUERY_STRING"], "rb")

        class CloseFails:
            def fileno(self):
                return f.fileno()

            def tell(self):
                return f.tell()

            def read(self, size=-1):
                return f.read(size)

            def close(self):
                f.close()
                raise RuntimeError("file close failed")

        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](CloseFails())
    if path == "/filelike":  # no fileno(): the wrapper is iterated with read()
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"0123456789" * 1000), 777)
    if path == "/stream":
        n = int(environ.get("QUERY_STRING") or 10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"%06d\n" % i for i in range(n))
    if path == "/big":  # QUERY_STRING bytes in 64 KiB pieces, length given
        size = int(environ["QUERY_STRING"])
        piece = b"z" * 65536
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
        return (piece[: min(65536, size - off)] for off in range(0, size, 65536))
    if path == "/errors":
        environ["wsgi.errors"].write("app says: to the error log\n")
        environ["wsgi.errors"].writelines(["line one\n", "line two\n"])
        environ["wsgi.errors"].flush()
        return _text(start_response, "logged")
    if path == "/sleep":
        time.sleep(float(environ["QUERY_STRING"]))
        return _text(start_response, "slept")
    if path == "/sleep-logged":  # says so in the log first, then sleeps
        environ["wsgi.errors"].write("sleep started\n")
        environ["wsgi.errors"].flush()
        time.sleep(float(environ["QUERY_STRING"]))
        return _text(start_response, "slept")
    if path == "/alloc":  # QUERY_STRING bytes, allocated and touched
        block = bytearray(int(environ["QUERY_STRING"]))
        return _text(start_response, str(len(block)))
    if path == "/thread":
        import threading
        return _text(start_response, threading.current_thread().name)
    return _text(start_response, "not found", status="404 Not Found")
