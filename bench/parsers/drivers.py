"""The Python parsers of the parser shoot-out, each driven through its own
server's code, the way that server calls it, over in-memory bytes.

Every driver does two things with the same code path:

* ``one(data)``: parse ``data`` as the first request of a new connection,
  head and body (the body read whole, as an app reading ``wsgi.input`` to
  the end would), and return the body bytes. This is what is timed.
* ``run(data)``: feed ``data`` whole, then the end of the input, and return
  an ``Outcome``: the messages delivered (method, target, body), and how the
  input ended ("ok", "error": rejected, "incomplete": still waiting for
  bytes), with the server's own reason. This is what the strictness matrix
  compares with anvil's verdict.

Where a parse stops is stated per driver (``how``): what the server's HTTP
layer does between the bytes and the hand-over to its WSGI or app layer
(environ building and the app are not parsing, and are left out).

A driver names the survey servers whose parser it is (``servers``, keys of
bench/survey/servers.py) and the Debian package it comes from (``package``).
``setup()`` imports; an ImportError there makes the parser "not available"
on that runtime, with the error as its reason.

Adding a parser: subclass Driver, fill in the class attributes, write
``setup``, ``one`` and ``run``, and add it to DRIVERS (bench/parsers/README.md).
"""

import io
import sys

# The peer address every fake connection reports.
PEER = ("127.0.0.1", 40000)
# A server closed the connection without answering.
_CLOSED = "closed"


class Outcome:
    __slots__ = ("messages", "end", "detail")

    def __init__(self, messages, end="ok", detail=""):
        self.messages = messages
        self.end = end
        self.detail = detail

    def to_json(self):
        return {"messages": [{"method": m, "target": t, "body": b.decode("latin-1")}
                             for m, t, b in self.messages],
                "end": self.end, "detail": self.detail}


def _text(x):
    return x.decode("latin-1") if isinstance(x, (bytes, bytearray)) else x


def _reason(e):
    """An exception as the one-line reason shown in the matrix."""
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}"[:160]


def _leftover(data):
    """Bytes that do not start a message (a peer may send CRLFs between messages)."""
    return bool(data.strip(b"\r\n"))


def _keep_alive(data, rfile, request, closes, incomplete=lambda e: False):
    """A server's keep-alive loop over a file of the input: request() reads one
    request up to the app, giving (method, target, body), None at the end of
    the input, or _CLOSED (closed without an answer), and raises for what the
    server answers with an error (incomplete(e): an end-of-input error);
    closes() says whether the connection closes after that request."""
    messages = []
    while True:
        pos = rfile.tell()
        try:
            message = request()
        except Exception as e:  # an error status, or a 500 and close
            return Outcome(messages, "incomplete" if incomplete(e) else "error", _reason(e))
        if message is _CLOSED:
            return Outcome(messages, "ok", "closed without an answer (an empty line)")
        if message is None:
            return Outcome(messages, "incomplete" if _leftover(data[pos:]) else "ok")
        messages.append(message)
        if closes():
            return Outcome(messages)


class Driver:
    name = ""           # key in the tables
    label = ""          # shown in the tables
    package = ""        # the Debian package it comes from
    servers = ()        # the survey servers (bench/survey/servers.py keys) it stands for
    how = ""            # how it is driven, and where the parse stops
    # True when the server answers one request per connection: only the first
    # message is compared (what follows is never read).
    one_per_connection = False

    def setup(self):
        """Imports; ImportError means not available on this runtime."""

    def one(self, data):
        raise NotImplementedError

    def run(self, data):
        raise NotImplementedError


# --------------------------------------------------------------------------
# gunicorn: gunicorn.http.RequestParser over the socket, as its workers do.

class _Socket:
    """The recv() that gunicorn's SocketUnreader calls."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data):
        self._data = data
        self._pos = 0

    def recv(self, n):
        chunk = self._data[self._pos:self._pos + n]
        self._pos += len(chunk)
        return chunk


class Gunicorn(Driver):
    name = "gunicorn"
    label = "gunicorn (gunicorn.http)"
    package = "python3-gunicorn"
    servers = ("gunicorn-sync", "gunicorn-gthread")
    how = ("`gunicorn.http.RequestParser(cfg, sock, addr)` per connection (default `Config()`), "
           "`next(parser)` per request, `req.body.read()`; as the gthread worker iterates a "
           "keep-alive connection (the sync worker takes one request per connection)")

    def setup(self):
        from gunicorn.config import Config
        from gunicorn.http.errors import NoMoreData
        from gunicorn.http.parser import RequestParser
        self._cfg = Config()
        self._parser = RequestParser
        self._no_more_data = NoMoreData

    def one(self, data):
        req = next(self._parser(self._cfg, _Socket(data), PEER))
        return req.body.read()

    def run(self, data):
        messages = []
        parser = self._parser(self._cfg, _Socket(data), PEER)
        try:
            for req in parser:
                messages.append((req.method, req.uri, req.body.read()))
        except self._no_more_data as e:
            # The worker drops the connection silently ("premature client disconnection").
            return Outcome(messages, "incomplete", _reason(e))
        except Exception as e:  # the worker answers 400 (or 500) to any parse exception
            return Outcome(messages, "error", _reason(e))
        return Outcome(messages)


# --------------------------------------------------------------------------
# waitress: waitress.parser.HTTPRequestParser.received, in HTTPChannel's loop.

class Waitress(Driver):
    name = "waitress"
    label = "waitress (waitress.parser)"
    package = "python3-waitress"
    servers = ("waitress",)
    how = ("`HTTPChannel.received`'s loop over `HTTPRequestParser(adj).received(data)` "
           "(default `Adjustments()`), `get_body_stream().read()`; after a request that "
           "closes the connection or carries an error, the channel reads no further")

    def setup(self):
        from waitress.adjustments import Adjustments
        from waitress.parser import HTTPRequestParser
        self._adj = Adjustments()
        self._parser = HTTPRequestParser

    def _received(self, data, requests):
        """HTTPChannel.received: the completed requests; returns the pending one."""
        request = None
        while data:
            if request is None:
                request = self._parser(self._adj)
            n = request.received(data)
            if request.completed:
                if not request.empty:
                    requests.append(request)
                request = None
            if n >= len(data):
                break
            data = data[n:]
        return request

    def one(self, data):
        requests = []
        self._received(data, requests)
        return requests[0].get_body_stream().read()

    @staticmethod
    def _closes(request):
        # waitress.task.Task.start: when the response closes the connection
        # (the app's response has a Content-Length).
        connection = request.headers.get("CONNECTION", "").lower()
        if request.version == "1.0":
            return connection != "keep-alive"
        return request.version != "1.1" or connection == "close"

    def run(self, data):
        messages = []
        requests = []
        pending = self._received(data, requests)
        for request in requests:
            if request.error is not None:
                e = request.error  # waitress.utilities.Error: what the ErrorTask answers
                return Outcome(messages, "error", f"{e.code} {e.reason}: {e.body}"[:160])
            messages.append((request.command, request.request_uri,
                             request.get_body_stream().read()))
            if self._closes(request):
                return Outcome(messages)
        if pending is not None and (_leftover(pending.header_plus) or
                                    pending.body_rcv is not None):
            return Outcome(messages, "incomplete", "request not complete")
        return Outcome(messages)


# --------------------------------------------------------------------------
# tornado: HTTP1Connection._read_message over an in-memory stream.

class _TornadoStream:
    """What HTTP1Connection reads through (tornado.iostream.IOStream's read
    calls), over bytes already received: every read is complete at once, so
    the coroutine runs to its end in one send()."""

    max_buffer_size = 104857600  # IOStream's default

    def __init__(self, data, future, errors):
        self._data = data
        self._pos = 0
        self._future = future
        self._closed_error, self._unsatisfiable = errors
        self.closed_flag = False
        self.written = []

    def _done(self, value):
        f = self._future()
        f.set_result(value)
        return f

    def _failed(self, exc):
        f = self._future()
        f.set_exception(exc)
        return f

    def _until(self, end, max_bytes):
        if end < 0:
            if max_bytes is not None and len(self._data) - self._pos > max_bytes:
                return self._failed(self._unsatisfiable("delimiter not found"))
            return self._failed(self._closed_error())
        if max_bytes is not None and end - self._pos > max_bytes:
            return self._failed(self._unsatisfiable("delimiter not found"))
        chunk = self._data[self._pos:end]
        self._pos = end
        return self._done(chunk)

    def read_until_regex(self, regex, max_bytes=None):
        import re
        m = re.compile(regex).search(self._data, self._pos)
        return self._until(m.end() if m else -1, max_bytes)

    def read_until(self, delimiter, max_bytes=None):
        i = self._data.find(delimiter, self._pos)
        return self._until(i + len(delimiter) if i >= 0 else -1, max_bytes)

    def read_bytes(self, n, partial=False):
        left = len(self._data) - self._pos
        if left == 0 or (left < n and not partial):
            return self._failed(self._closed_error())
        chunk = self._data[self._pos:self._pos + n]
        self._pos += len(chunk)
        return self._done(chunk)

    def read_until_close(self):
        chunk = self._data[self._pos:]
        self._pos = len(self._data)
        return self._done(chunk)

    def rest(self):
        return self._data[self._pos:]

    def write(self, data):
        self.written.append(data)
        return self._done(None)

    def close(self):
        self.closed_flag = True

    def closed(self):
        return self.closed_flag

    def set_close_callback(self, callback):
        pass

    def set_nodelay(self, value):
        pass


class _TornadoDelegate:
    """An HTTPMessageDelegate that keeps the message; its finish() stands for
    the response being written (HTTP1Connection._finish_request)."""

    def __init__(self, conn, messages):
        self._conn = conn
        self._messages = messages
        self._head = None
        self._body = []

    def headers_received(self, start_line, headers):
        self._head = start_line

    def data_received(self, chunk):
        self._body.append(chunk)

    def finish(self):
        self._messages.append((self._head.method, self._head.path, b"".join(self._body)))
        self._conn._finish_request(None)

    def on_connection_close(self):
        pass


class Tornado(Driver):
    name = "tornado"
    label = "tornado (HTTP1Connection)"
    package = "python3-tornado"
    servers = ("tornado",)
    how = ("`HTTP1Connection(stream, False, HTTP1ConnectionParameters())` per request, as "
           "`HTTP1ServerConnection._server_request_loop` makes them, `read_response(delegate)` "
           "run to its end over an in-memory stream (`read_until_regex`, `HTTPHeaders.parse`, "
           "`parse_request_start_line`, `_read_body`); no header timeout (HTTPServer sets one, "
           "which is the event loop's cost, not parsing)")

    def setup(self):
        import asyncio
        from tornado import iostream
        from tornado.http1connection import HTTP1Connection, HTTP1ConnectionParameters
        asyncio.set_event_loop(asyncio.new_event_loop())  # asyncio.Future() needs one
        self._future = asyncio.Future
        self._errors = (iostream.StreamClosedError, iostream.UnsatisfiableReadError)
        self._conn = HTTP1Connection
        self._params = HTTP1ConnectionParameters()

    def _one_message(self, stream, messages):
        """One turn of _server_request_loop: True if the connection goes on."""
        conn = self._conn(stream, False, self._params)
        coro = conn.read_response(_TornadoDelegate(conn, messages))
        try:
            coro.send(None)
        except StopIteration as stop:
            return bool(stop.value)
        coro.close()
        raise RuntimeError("tornado's read_response waited for something")

    def one(self, data):
        messages = []
        self._one_message(_TornadoStream(data, self._future, self._errors), messages)
        return messages[0][2]

    def run(self, data):
        messages = []
        stream = _TornadoStream(data, self._future, self._errors)
        closed_error, unsatisfiable = self._errors
        while True:
            try:
                more = self._one_message(stream, messages)
            except closed_error:
                # _server_request_loop returns quietly; a part message is lost.
                rest = stream.rest()
                return Outcome(messages, "incomplete" if _leftover(rest) else "ok",
                               "stream closed" if _leftover(rest) else "")
            except unsatisfiable as e:
                return Outcome(messages, "error", "connection closed: " + _reason(e))
            except Exception as e:  # logged as "Uncaught exception", connection closed
                return Outcome(messages, "error", "connection closed: " + _reason(e))
            if not more:
                if any(w.startswith(b"HTTP/1.1 400") for w in stream.written):
                    return Outcome(messages, "error", "400 (HTTPInputError)")
                return Outcome(messages)


# --------------------------------------------------------------------------
# twisted.web: HTTPChannel.dataReceived with a string transport.

class Twisted(Driver):
    name = "twisted"
    label = "twisted.web (HTTPChannel)"
    package = "python3-twisted"
    servers = ("twisted",)
    how = ("a new `twisted.web.http.HTTPChannel` per connection on a `StringTransport` "
           "(timeouts on a `Clock`), `dataReceived(data)`: line parsing, headers, transfer "
           "decoders, `Request.requestReceived` (URI and query parsing) up to `process()`, "
           "which the site's resource lookup would start")

    def setup(self):
        from twisted.internet.task import Clock
        from twisted.internet.testing import StringTransport
        from twisted.web import http

        class _Request(http.Request):
            # Runs where twisted.web.server.Request.process looks up the resource.
            def process(self):
                self.channel.delivered.append(
                    (_text(self.method), _text(self.uri), self.content.read()))
                if self.channel.answer:
                    self.finish()

        class _Channel(http.HTTPChannel):
            requestFactory = _Request

        self._channel = _Channel
        self._transport = StringTransport
        self._clock = Clock()

    def _connect(self, answer):
        channel = self._channel()
        channel.delivered = []
        channel.answer = answer
        channel.callLater = self._clock.callLater
        channel.makeConnection(self._transport())
        return channel

    def one(self, data):
        channel = self._connect(False)
        channel.dataReceived(data)
        return channel.delivered[0][2]

    def run(self, data):
        # Each request is answered (finish()), so that pipelined ones are parsed.
        channel = self._connect(True)
        channel.dataReceived(data)
        messages = channel.delivered
        if b"400 Bad Request" in channel.transport.value():
            return Outcome(messages, "error", "400 Bad Request")
        if channel.transport.disconnecting:
            return Outcome(messages)
        waiting = len(channel.requests) > len([r for r in channel.requests if r.finished])
        if waiting or _leftover(getattr(channel, "_buffer", b"")):
            return Outcome(messages, "incomplete", "request not complete")
        return Outcome(messages)


# --------------------------------------------------------------------------
# gevent.pywsgi: WSGIHandler's read_requestline / read_request over a file.

class _GeventServer:
    application = None


class Gevent(Driver):
    name = "gevent"
    label = "gevent.pywsgi (WSGIHandler)"
    package = "python3-gevent"
    servers = ("gevent",)
    how = ("`WSGIHandler(None, addr, server, rfile)` per connection over an in-memory file, "
           "as `handle_one_request` does: `read_requestline()`, `read_request(line)` "
           "(`http.client.parse_headers`), then the body through `pywsgi.Input` with the "
           "chunked flag `get_environ` derives")

    def setup(self):
        from gevent import pywsgi
        self._handler = pywsgi.WSGIHandler
        self._input = pywsgi.Input
        self._max_line = pywsgi.MAX_REQUEST_LINE
        self._server = _GeventServer()

    def _request(self, handler):
        """handle_one_request up to the app: (method, target, body), or None at EOF."""
        line = handler.read_requestline()
        if not line:
            return None
        if len(line) >= self._max_line:
            raise ValueError("414 request line too long")
        handler.read_request(line)
        # get_environ: HTTP_TRANSFER_ENCODING joins repeated fields with ','.
        te = ",".join(handler.headers.get_all("transfer-encoding") or ())
        body = self._input(handler.rfile, handler.content_length, socket=None,
                           chunked_input=te.lower() == "chunked").read()
        return handler.command, handler.path, body

    def one(self, data):
        handler = self._handler(None, PEER, self._server, io.BytesIO(data))
        return self._request(handler)[2]

    def run(self, data):
        h = self._handler(None, PEER, self._server, io.BytesIO(data))
        # handle_one_request answers 400 to any exception (_handle_client_error);
        # the end of the input shows as "unexpected end of file" or "EOF".
        return _keep_alive(data, h.rfile, lambda: self._request(h), lambda: h.close_connection,
                           lambda e: "end of file" in str(e) or "EOF" in str(e))


# --------------------------------------------------------------------------
# http.server: BaseHTTPRequestHandler.parse_request (wsgiref's handler, and
# the base of eventlet's).

class HttpServer(Driver):
    name = "http.server"
    label = "http.server / wsgiref"
    package = "python3 (standard library)"
    servers = ("wsgiref",)
    one_per_connection = True
    how = ("`wsgiref.simple_server.WSGIRequestHandler.handle`'s parse: `rfile.readline(65537)`, "
           "`parse_request()` (`http.client.parse_headers`); the body is what an app reading "
           "`int(CONTENT_LENGTH)` bytes of `wsgi.input` gets (wsgiref frames no body itself and "
           "has no chunked decoding); one request per connection")

    def setup(self):
        from wsgiref.simple_server import WSGIRequestHandler

        class _Handler(WSGIRequestHandler):
            def __init__(self, rfile):  # no socket, no handle() from __init__
                self.rfile = rfile
                self.wfile = io.BytesIO()
                self.client_address = PEER
                self.request_version = "HTTP/0.9"  # parse_request's default, read by send_error
                self.command = None
                self.answered = ""

            def log_message(self, *args):
                pass

            def send_error(self, code, message=None, explain=None):
                self.answered = f"{code} {message or ''}".strip()
                super().send_error(code, message, explain)

        self._handler = _Handler

    def _request(self, data):
        """(method, target, body), or raises ValueError with the status sent."""
        h = self._handler(io.BytesIO(data))
        h.raw_requestline = h.rfile.readline(65537)
        if len(h.raw_requestline) > 65536:
            raise ValueError("414")
        if not h.raw_requestline:
            return None
        if not h.parse_request():
            if not h.answered:  # an empty line: handle() returns, the connection closes
                return None
            raise ValueError(h.answered)
        length = h.headers.get("content-length")
        try:
            body = h.rfile.read(int(length)) if length else b""
        except (ValueError, OverflowError) as e:
            raise ValueError(f"500: the app's read(int(CONTENT_LENGTH)) fails: {e}") from e
        return h.command, h.path, body

    def one(self, data):
        return self._request(data)[2]

    def run(self, data):
        try:
            message = self._request(data)
        except ValueError as e:
            return Outcome([], "error", _reason(e))
        return Outcome([message] if message else [])


# --------------------------------------------------------------------------
# eventlet.wsgi: HttpProtocol.handle_one_request over a file.

class _EventletServer:
    url_length_limit = 8192  # eventlet.wsgi.MAX_REQUEST_LINE, the Server default
    max_http_version = None
    outstanding_requests = 0


class Eventlet(Driver):
    name = "eventlet"
    label = "eventlet.wsgi (HttpProtocol)"
    package = "python3-eventlet"
    servers = ("eventlet",)
    how = ("`HttpProtocol.handle_one_request` up to the app: `rfile.readline(url_length_limit)`, "
           "`parse_request()` over `FileObjectForHeaders` (`http.client.parse_headers`), its "
           "Content-Length check, then the body through `eventlet.wsgi.Input` as `get_environ` "
           "builds it; keep-alive as `handle()` loops")

    def setup(self):
        from eventlet import wsgi

        class _Protocol(wsgi.HttpProtocol):
            def __init__(self, rfile, server):  # no socket, no handle() from __init__
                self.rfile = rfile
                self.wfile = io.BytesIO()
                self.server = server
                self.client_address = PEER
                self.request_version = "HTTP/0.9"
                self.command = None
                self.close_connection = True
                self.answered = ""

            def log_message(self, *args):
                pass

            def send_error(self, code, message=None, explain=None):
                self.answered = f"{code} {message or ''}".strip()
                super().send_error(code, message, explain)

        self._protocol = _Protocol
        self._wsgi = wsgi
        self._server = _EventletServer()

    def _request(self, p):
        """handle_one_request up to the app: (method, target, body) or None at EOF;
        raises ValueError for what it answers with an error."""
        wsgi = self._wsgi
        p.raw_requestline = p.rfile.readline(self._server.url_length_limit)
        if not p.raw_requestline:
            return None
        if len(p.raw_requestline) >= self._server.url_length_limit:
            raise ValueError("414 Request URI Too Long")
        orig = p.rfile
        try:
            p.rfile = wsgi.FileObjectForHeaders(orig)
            if not p.parse_request():
                if not p.answered:  # an empty line: the handler returns and closes
                    return _CLOSED
                raise ValueError(p.answered)
        except (wsgi.HeaderLineTooLong, wsgi.HeadersTooLarge) as e:
            raise ValueError("400 " + type(e).__name__) from e
        finally:
            p.rfile = orig
        length = p.headers.get("content-length")
        if length is not None and int(length) < 0:
            raise ValueError("400 Bad Request (Content-Length)")
        te = ",".join(p.headers.get_all("transfer-encoding") or ())
        body = wsgi.Input(p.rfile, length, None, chunked_input=te.lower() == "chunked").read()
        return p.command, p.path, body

    def one(self, data):
        return self._request(self._protocol(io.BytesIO(data), self._server))[2]

    def run(self, data):
        p = self._protocol(io.BytesIO(data), self._server)
        return _keep_alive(data, p.rfile, lambda: self._request(p), lambda: p.close_connection)


# --------------------------------------------------------------------------
# cheroot: HTTPRequest.parse_request, then the body as respond() wraps it.

class _CherootConn:
    def __init__(self, data):
        self.rfile = io.BytesIO(data)
        self.wfile = io.BytesIO()
        self.request = None  # the last HTTPRequest


class Cheroot(Driver):
    name = "cheroot"
    label = "cheroot (HTTPRequest)"
    package = "python3-cheroot"
    servers = ("cheroot",)
    how = ("`HTTPRequest(server, conn)` per request as `HTTPConnection.communicate` makes it, "
           "`parse_request()` (request line, `HeaderReader`, framing checks), then the body "
           "through the `ChunkedRFile` / `KnownLengthRFile` that `respond()` gives the app")

    def setup(self):
        from cheroot import server as cs
        from cheroot import wsgi
        self._cs = cs
        self._server = wsgi.Server(("127.0.0.1", 0), None)

    def _request(self, conn):
        """communicate() up to the app: (method, target, body), None at EOF;
        raises ValueError with the status of an answered error."""
        cs = self._cs
        req = cs.HTTPRequest(self._server, conn)
        start = conn.wfile.tell()
        req.parse_request()
        if not req.ready:
            answer = conn.wfile.getvalue()[start:]
            if not answer:
                return None
            raise ValueError(answer.split(b"\r\n", 1)[0].decode("latin-1"))
        if req.chunked_read:
            rfile = cs.ChunkedRFile(conn.rfile, self._server.max_request_body_size)
        else:
            rfile = cs.KnownLengthRFile(conn.rfile, int(req.inheaders.get(b"Content-Length", 0)))
        conn.request = req
        return _text(req.method), _text(req.uri), rfile.read()

    def one(self, data):
        return self._request(_CherootConn(data))[2]

    def run(self, data):
        conn = _CherootConn(data)
        return _keep_alive(data, conn.rfile, lambda: self._request(conn),
                           lambda: conn.request.close_connection)


# --------------------------------------------------------------------------
# h11 (used by uvicorn, hypercorn): Connection.receive_data / next_event.

class H11(Driver):
    name = "h11"
    label = "h11"
    package = "python3-h11"
    servers = ()
    how = ("`h11.Connection(h11.SERVER)` per connection, `receive_data(data)`, `next_event()` "
           "until `EndOfMessage`; between pipelined requests a 200 is sent and "
           "`start_next_cycle()` called, as a server must; the end of input is "
           "`receive_data(b\"\")`")

    def setup(self):
        import h11
        self._h11 = h11

    def one(self, data):
        h11 = self._h11
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(data)
        body = []
        while True:
            event = conn.next_event()
            t = type(event)
            if t is h11.Data:
                body.append(event.data)
            elif t is h11.EndOfMessage:
                return b"".join(body)
            elif event is h11.NEED_DATA:
                raise ValueError("incomplete")

    def run(self, data):
        h11 = self._h11
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(data)
        messages = []
        head, body, eof = None, [], False
        try:
            while True:
                event = conn.next_event()
                t = type(event)
                if t is h11.Request:
                    head, body = event, []
                elif t is h11.Data:
                    body.append(event.data)
                elif t is h11.EndOfMessage:
                    messages.append((_text(head.method), _text(head.target), b"".join(body)))
                    head = None
                    if conn.their_state is h11.MIGHT_SWITCH_PROTOCOL:
                        return Outcome(messages, "ok", "protocol switch: the rest is not HTTP")
                    conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
                    conn.send(h11.EndOfMessage())
                    if conn.our_state is h11.MUST_CLOSE:
                        return Outcome(messages)
                    conn.start_next_cycle()
                elif event is h11.NEED_DATA:
                    if eof:
                        return Outcome(messages, "incomplete", "NEED_DATA at end of input")
                    conn.receive_data(b"")
                    eof = True
                elif t is h11.ConnectionClosed or event is h11.PAUSED:
                    return Outcome(messages)
        except h11.RemoteProtocolError as e:
            end = "incomplete" if eof and "closed" in str(e) else "error"
            return Outcome(messages, end, _reason(e))


# --------------------------------------------------------------------------
# httptools (uvicorn's default): http-parser 2.9.4 through Cython.

class _UvicornProtocol:
    """uvicorn's httptools callbacks: URL pieces, every field (names
    lower-cased), body pieces, the method at the message's end."""

    __slots__ = ("parser", "url", "headers", "body", "messages", "begun")

    def __init__(self):
        self.parser = None
        self.url = b""
        self.headers = []
        self.body = []
        self.messages = []
        self.begun = 0

    def on_message_begin(self):
        self.begun += 1
        self.url = b""
        self.headers = []
        self.body = []

    def on_url(self, url):
        self.url += url

    def on_header(self, name, value):
        self.headers.append((name.lower(), value))

    def on_body(self, body):
        self.body.append(body)

    def on_message_complete(self):
        self.messages.append((self.parser.get_method().decode("latin-1"),
                              self.url.decode("latin-1"), b"".join(self.body)))


class Httptools(Driver):
    name = "httptools"
    label = "httptools (http-parser 2.9.4)"
    package = "python3-httptools"
    servers = ()
    how = ("`httptools.HttpRequestParser(protocol)` per connection with uvicorn's callbacks "
           "(URL pieces, each field with its name lower-cased, body pieces, "
           "`get_method()` at message end), `feed_data(data)`; Debian builds it on "
           "libhttp-parser 2.9.4; it has no end-of-input call")

    def setup(self):
        import httptools
        self._httptools = httptools

    def _parser(self):
        proto = _UvicornProtocol()
        proto.parser = self._httptools.HttpRequestParser(proto)
        return proto

    def one(self, data):
        proto = self._parser()
        proto.parser.feed_data(data)
        return proto.messages[0][2]

    def run(self, data):
        proto = self._parser()
        try:
            proto.parser.feed_data(data)
        except self._httptools.HttpParserUpgrade:
            return Outcome(proto.messages, "ok", "upgrade: the rest is not HTTP")
        except self._httptools.HttpParserError as e:
            return Outcome(proto.messages, "error", _reason(e))
        if proto.begun > len(proto.messages):
            return Outcome(proto.messages, "incomplete", "message not complete")
        return Outcome(proto.messages)


# --------------------------------------------------------------------------
# anvil: the pure-Python parser, and the C++ parsers through the bindings.

def _anvil_outcome(p, data):
    """feed_messages + finish_messages, as anvil.parser.parse does."""
    raw = p.feed_messages(data)
    if not p.error_status:
        raw += p.finish_messages()
    messages = [(head[0], head[1], bytes(body)) for head, body, _ in raw]
    error = p.error
    if error is None:
        return Outcome(messages)
    status, code = error
    return Outcome(messages, "incomplete" if code == "incomplete" else "error", f"{status} {code}")


class AnvilPython(Driver):
    name = "anvil.pyparser"
    label = "anvil.pyparser (pure Python)"
    package = "anvil (this tree)"
    servers = ("ref-python",)
    how = ("`anvil.pyparser.RequestParser()` kept per connection and `reset()`, "
           "`feed_messages(data)`, as `anvil.refserver --parser python` does")

    def setup(self):
        from anvil.pyparser import RequestParser
        self._p = RequestParser()
        self._make = RequestParser

    def one(self, data):
        p = self._p
        p.reset()
        return p.feed_messages(data)[0][1]

    def run(self, data):
        return _anvil_outcome(self._make(), data)


class AnvilBinding(Driver):
    """One of anvil's C++ parsers called from Python (anvil.parser)."""

    package = "anvil (this tree)"

    def __init__(self, kind):
        self.kind = kind
        self.name = f"anvil.parser {kind}"
        self.label = f"anvil.parser kind={kind} (C++ from Python)"
        self.servers = (f"ref-{kind}",)
        self.how = (f"`anvil.parser.message_parser(\"{kind}\")` kept per connection and "
                    "`reset()`, `feed_messages(data)`, as `anvil.refserver --parser "
                    f"{kind}` does (the binding on CPython; on PyPy the packed form, one "
                    "bytes object per batch taken apart in Python)")

    def setup(self):
        from anvil.parser import message_parser
        self._p = message_parser(self.kind)
        self._make = lambda: message_parser(self.kind)

    def one(self, data):
        p = self._p
        p.reset()
        return p.feed_messages(data)[0][1]

    def run(self, data):
        return _anvil_outcome(self._make(), data)


def anvil_kinds():
    """The C++ kinds the anvil build offers ((), when the extension is missing)."""
    try:
        from anvil.parser import KINDS
    except ImportError:
        return ()
    return KINDS


def drivers():
    """Every driver, in table order; anvil's C++ kinds as the build reports them."""
    out = [Gunicorn(), Waitress(), Tornado(), Twisted(), Gevent(), Eventlet(), HttpServer(),
           Cheroot(), H11(), Httptools(), AnvilPython()]
    kinds = anvil_kinds() or ("fast", "llhttp", "http-parser")
    out += [AnvilBinding(k) for k in kinds]
    return out


def runtime():
    return "pypy" if sys.implementation.name == "pypy" else "cpython"
