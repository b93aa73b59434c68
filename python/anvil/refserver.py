"""anvil's pure-Python reference WSGI server: the cost ladder's steps 1 and 2.

One thread, one `selectors` loop, the standard library only. The parser is
chosen at start: `python` (anvil.pyparser, step 1: everything in Python) or
`fast` / `llhttp` (anvil.parser, step 2: the same loop with anvil's C++
parser). Everything else is the same code, so the difference between the
steps is the parser alone.

    python3 -m anvil.refserver [--bind HOST:PORT] [--parser python|fast|llhttp|http-parser] MODULE:CALLABLE

It prints `anvil: listening on http://HOST:PORT` to stderr once it accepts
(the real port when 0 was asked), like `python3 -m anvil`; SIGTERM and SIGINT
stop it with exit status 0.

HTTP/1.1: keep-alive (HTTP/1.0 with `Connection: keep-alive`), pipelining
(responses in order), request bodies by Content-Length or chunked (buffered
whole before the app is called), `Expect: 100-continue`, HEAD, and the
parser's status (400, 413, 414, 431, 501, 505) with `Connection: close` for
bad input. Responses: the app's Content-Length, else Content-Length for a
one-item list, else chunked on HTTP/1.1 and end-of-connection on HTTP/1.0.
What it leaves out, as a reference rather than a production server: timeouts,
a connection limit, worker processes, streaming of large bodies (a response
is sent once the app's iterable is exhausted).
"""

import argparse
import email.utils
import errno
import importlib
import io
import os
import re
import selectors
import signal
import socket
import sys
import time
import traceback
from urllib.parse import unquote_to_bytes

__all__ = ["RefServer", "serve", "main", "PARSERS"]

PARSERS = ("python", "fast", "llhttp", "http-parser")

_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_RECV_SIZE = 64 * 1024
_ACCEPTS_PER_WAKEUP = 64   # bounded, so that a flood of connections cannot starve the others
_EMFILE_BACKOFF_S = 0.1    # out of descriptors: stop accepting for a moment, then retry
_POOL_SIZE = 256           # parsers kept for reuse after their connection closes
_CACHE_SIZE = 512          # bound of the per-server name caches below

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large",
            414: "URI Too Long", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 501: "Not Implemented",
            505: "HTTP Version Not Supported"}
# PEP 3333 "The start_response() Callable": a status is "NNN reason";
# header names are tokens, values have no control characters (no CR/LF:
# response splitting).
_STATUS_OK = re.compile(r"[0-9]{3} [^\x00-\x08\x0a-\x1f\x7f]*")
_HEADER_NAME_OK = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE_OK = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*")
_HOP_BY_HOP = frozenset(("connection", "keep-alive", "transfer-encoding", "upgrade",
                         "proxy-authenticate", "proxy-authorization", "te", "trailer"))


class _BadResponse(Exception):
    """The app gave a status or header that cannot go on the wire (a 500)."""


class FileWrapper:
    """wsgi.file_wrapper (PEP 3333 "Optional Platform-Specific File Handling")."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        read = self.filelike.read
        while True:
            block = read(self.blksize)
            if not block:
                return
            yield block


def _make_parser_factory(name, limits):
    """A function returning a new request parser of the kind `name`."""
    if name == "python":
        from anvil.pyparser import RequestParser
        return lambda: RequestParser(**limits)
    if name in PARSERS:  # a C++ kind ("python" is above)
        from anvil.parser import message_parser
        return lambda: message_parser(name, "request", **limits)
    raise ValueError(f"unknown parser {name!r} (one of {', '.join(PARSERS)})")


def _parse_bind(bind):
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT or [::1]:PORT, not {bind!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port)


def _error_response(status):
    reason = _REASONS.get(status, "Bad Request")
    body = f"{status} {reason}\n"
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}").encode("latin-1")


class RefServer:
    """One listening socket, one thread, one selector; owns all its state."""

    def __init__(self, app, bind="127.0.0.1:8000", parser="python", backlog=1024,
                 limit_request_line=8 * 1024, limit_request_fields=100,
                 limit_request_field_size=64 * 1024, max_body_size=None, log=sys.stderr):
        self.app = app
        self.parser_name = parser
        self._new_parser = _make_parser_factory(parser, {
            "request_line": limit_request_line, "fields": limit_request_fields,
            "header_bytes": limit_request_field_size, "body": max_body_size})
        self._new_parser()  # a bad kind or limit fails here, before binding
        self._pool = []
        self._log = log
        host, port = _parse_bind(bind)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(backlog)
        self._listener.setblocking(False)
        self.host = host
        self.port = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, _READ, self._accept)
        self._accept_paused_until = 0.0
        self._running = False
        # Per-request work done once: the environ template, and caches from
        # a header name to its environ key and from a status to its line.
        self._base_environ = {
            "SCRIPT_NAME": "", "SERVER_NAME": host, "SERVER_PORT": str(self.port),
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.errors": log,
            "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "wsgi.input_terminated": True, "wsgi.file_wrapper": FileWrapper,
        }
        self._environ_keys = {}
        self._status_lines = {}
        self._date_second = -1
        self._date_header = ""

    @property
    def url(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def serve_forever(self):
        """Runs the loop until stop() (or a signal handler raising SystemExit)."""
        self._running = True
        select = self._selector.select
        try:
            while self._running:
                timeout = None
                if self._accept_paused_until:
                    timeout = self._resume_accepting()
                for key, mask in select(timeout):
                    key.data(mask)
        finally:
            self.close()

    def stop(self):
        self._running = False

    def close(self):
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()
        self._selector.close()

    # --- accepting -------------------------------------------------------

    def _accept(self, _mask):
        for _ in range(_ACCEPTS_PER_WAKEUP):
            try:
                sock, addr = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._pause_accepting()
                return  # ECONNABORTED and the like: the next wakeup goes on
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            parser = self._pool.pop() if self._pool else self._new_parser()
            conn = _Connection(self, sock, addr, parser)
            self._selector.register(sock, _READ, conn.on_event)

    def _pause_accepting(self):
        self._selector.unregister(self._listener)
        self._accept_paused_until = time.monotonic() + _EMFILE_BACKOFF_S

    def _resume_accepting(self):
        left = self._accept_paused_until - time.monotonic()
        if left > 0:
            return left
        self._accept_paused_until = 0.0
        self._selector.register(self._listener, _READ, self._accept)
        return None

    def _release(self, conn):
        self._selector.unregister(conn.sock)
        conn.sock.close()
        if len(self._pool) < _POOL_SIZE:
            conn.parser.reset()
            self._pool.append(conn.parser)

    # --- one request -----------------------------------------------------

    def handle(self, conn, head, body, out):
        """Calls the app for one request; appends the response to out.

        Returns whether the connection may carry another request.
        """
        method, target, version, headers, length, _chunked, keep_alive = head[:7]
        environ = self._make_environ(conn, method, target, version, headers, length, body)
        response = _Response()
        try:
            result = self.app(environ, response.start_response)
            try:
                chunks = response.collect(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if response.status is None:
                raise _BadResponse("the app returned without calling start_response")
            keep_alive = self._write_response(response, chunks, method, version, keep_alive, out)
        except Exception:  # the app's error: a 500, and the server goes on
            self._log.write(f"anvil.refserver: error in the app for {method} {target}\n")
            traceback.print_exc(file=self._log)
            out.append(_error_response(500))
            return False
        return keep_alive

    def _make_environ(self, conn, method, target, version, headers, length, body):
        environ = self._base_environ.copy()
        path, _, query = target.partition("?")
        if "%" in path:
            path = unquote_to_bytes(path).decode("latin-1")
        environ["REQUEST_METHOD"] = method
        environ["PATH_INFO"] = path
        environ["QUERY_STRING"] = query
        environ["SERVER_PROTOCOL"] = version
        environ["REMOTE_ADDR"] = conn.remote_addr
        environ["REMOTE_PORT"] = conn.remote_port
        environ["wsgi.input"] = io.BytesIO(body)
        if length is not None:
            environ["CONTENT_LENGTH"] = str(length)
        keys = self._environ_keys
        for name, value in headers:
            key = keys.get(name)
            if key is None:
                key = self._environ_key(name)
            if not key:
                continue
            if key in environ:  # RFC 9110 §5.3: repeated fields combine with ","
                environ[key] += "," + value
            else:
                environ[key] = value
        return environ

    def _environ_key(self, name):
        # PEP 3333: HTTP_ + the name upper-cased, "-" as "_". A name that
        # already holds "_" is dropped, as gunicorn does: it could otherwise
        # pose as another field (X-Forwarded_For as X-Forwarded-For).
        # Content-Length comes from the parser's framing (one value).
        upper = name.upper()
        if "_" in name or upper == "CONTENT-LENGTH":
            key = ""
        elif upper == "CONTENT-TYPE":
            key = "CONTENT_TYPE"
        else:
            key = "HTTP_" + upper.replace("-", "_")
        if len(self._environ_keys) < _CACHE_SIZE:
            self._environ_keys[name] = key
        return key

    def _write_response(self, response, chunks, method, version, keep_alive, out):
        http11 = version == "HTTP/1.1"
        lines = [self._status_line(response.status, version)]
        length = None
        for name, value in response.headers:
            if type(name) is not str or type(value) is not str:
                raise _BadResponse(f"header {name!r}: {value!r} is not two str")
            if _HEADER_NAME_OK.fullmatch(name) is None or _HEADER_VALUE_OK.fullmatch(value) is None:
                raise _BadResponse(f"header {name!r}: {value!r} cannot be sent")
            lname = name.lower()
            if lname in _HOP_BY_HOP:
                # PEP 3333: hop-by-hop fields are the server's; "close" is honoured.
                if lname == "connection" and "close" in value.lower():
                    keep_alive = False
                continue
            if lname == "content-length":
                length = value
            lines.append(f"{name}: {value}\r\n")
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if length is None:
            if response.single or not http11:
                if response.single:
                    lines.append(f"Content-Length: {len(body)}\r\n")
                else:
                    keep_alive = False  # HTTP/1.0: the body ends with the connection
            else:
                lines.append("Transfer-Encoding: chunked\r\n")
                body = b"".join([b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c]) + b"0\r\n\r\n"
        lines.append(self._date())
        if not keep_alive:
            if http11:
                lines.append("Connection: close\r\n")
        elif not http11:
            lines.append("Connection: keep-alive\r\n")
        lines.append("\r\n")
        try:
            head_bytes = "".join(lines).encode("latin-1")
        except UnicodeEncodeError as e:
            raise _BadResponse("a header is not latin-1") from e
        out.append(head_bytes)
        if method != "HEAD" and body:
            out.append(body)
        return keep_alive

    def _status_line(self, status, version):
        line = self._status_lines.get(status)
        if line is None:
            if type(status) is not str or _STATUS_OK.fullmatch(status) is None:
                raise _BadResponse(f"status {status!r} is not 'NNN reason'")
            line = f"HTTP/1.1 {status}\r\n"
            if len(self._status_lines) < _CACHE_SIZE:
                self._status_lines[status] = line
        # A server answers with its own version (RFC 9110 §6.2), 1.1 here.
        return line

    def _date(self):
        # Formatted once a second, not per request.
        now = time.time()
        second = int(now)
        if second != self._date_second:
            self._date_second = second
            self._date_header = (f"Date: {email.utils.formatdate(now, usegmt=True)}\r\n"
                                 "Server: anvil-refserver\r\n")
        return self._date_header


class _Response:
    """start_response(), write() and the collected body of one request."""

    __slots__ = ("status", "headers", "written", "single")

    def __init__(self):
        self.status = None
        self.headers = None
        self.written = None
        self.single = False

    def start_response(self, status, headers, exc_info=None):
        if exc_info is not None:
            # PEP 3333: nothing has been sent yet (the response goes out
            # after the iterable is exhausted), so the new status replaces it.
            exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response() called a second time without exc_info")
        self.status = status
        self.headers = headers
        return self.write

    def write(self, data):
        if self.status is None:
            raise AssertionError("write() before start_response()")
        if self.written is None:
            self.written = []
        self.written.append(bytes(data))

    def collect(self, result):
        """The body as a list of bytes; single when the app gave one chunk only."""
        if type(result) is list and len(result) == 1 and self.written is None:
            chunk = result[0]
            if type(chunk) is not bytes:
                raise _BadResponse(f"the app's body item is {type(chunk).__name__}, not bytes")
            self.single = True
            return result
        chunks = self.written or []
        for chunk in result:
            if type(chunk) is not bytes:
                raise _BadResponse(f"the app's body item is {type(chunk).__name__}, not bytes")
            if chunk:
                chunks.append(chunk)
        return chunks


class _Connection:
    """One client connection: reads, parses, answers in order, writes."""

    __slots__ = ("server", "sock", "parser", "remote_addr", "remote_port", "out",
                 "writing", "closing", "continued")

    def __init__(self, server, sock, addr, parser):
        self.server = server
        self.sock = sock
        self.parser = parser
        self.remote_addr = addr[0]
        self.remote_port = str(addr[1])
        self.out = []
        self.writing = False
        self.closing = False
        self.continued = False  # the pending request was answered with 100 Continue

    def on_event(self, mask):
        if mask & _WRITE:
            self._flush()
        elif mask & _READ:
            self._read()

    def _read(self):
        try:
            data = self.sock.recv(_RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.server._release(self)
            return
        if not data:
            self.server._release(self)
            return
        parser = self.parser
        out = self.out
        messages = parser.feed_messages(data)
        if messages:
            self.continued = False
            for head, body, _trailers in messages:
                if not self.server.handle(self, head, body, out):
                    self.closing = True
                    break
        if not self.closing:
            if parser.error_status:
                out.append(_error_response(parser.error_status))
                self.closing = True
            elif not self.continued and parser.expect_continue_pending:
                # RFC 9110 §10.1.1: a client that sent Expect: 100-continue
                # may wait for 100 before the body; send it once per request.
                self.continued = True
                out.append(_CONTINUE)
        if out:
            self._flush()

    def _flush(self):
        out = self.out
        data = out[0] if len(out) == 1 else b"".join(out)
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.server._release(self)
            return
        if sent < len(data):
            out[:] = [data[sent:]]
            if not self.writing:
                self.writing = True  # stop reading until the client takes what it asked for
                self.server._selector.modify(self.sock, _WRITE, self.on_event)
            return
        out.clear()
        if self.closing:
            self.server._release(self)
        elif self.writing:
            self.writing = False
            self.server._selector.modify(self.sock, _READ, self.on_event)


def load_app(spec):
    """Imports MODULE:CALLABLE (CALLABLE defaults to `application`)."""
    module_name, _, attr = spec.partition(":")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    app = module
    for part in (attr or "application").split("."):
        app = getattr(app, part)
    if not callable(app):
        raise TypeError(f"{spec} is not callable")
    return app


def serve(app, bind="127.0.0.1:8000", **options):
    """Serves app until SIGTERM/SIGINT; prints the listening line to stderr."""
    server = RefServer(app, bind=bind, **options)

    def on_signal(_signum, _frame):
        server.stop()
        raise SystemExit(0)  # wakes select() up: PEP 475 runs handlers first

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.stderr.write(f"anvil: listening on {server.url}\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except SystemExit:
        pass
    return 0


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python3 -m anvil.refserver",
        description="anvil's pure-Python reference WSGI server (one thread, selectors).")
    p.add_argument("app", metavar="MODULE:CALLABLE")
    p.add_argument("-b", "--bind", default="127.0.0.1:8000", help="HOST:PORT or [::1]:PORT")
    p.add_argument("--parser", choices=PARSERS, default="python",
                   help="python (pure Python) or one of anvil's C++ parsers (default: python)")
    p.add_argument("--backlog", type=_positive_int, default=1024)
    p.add_argument("--limit-request-line", type=_positive_int, default=8 * 1024)
    p.add_argument("--limit-request-fields", type=_positive_int, default=100)
    p.add_argument("--limit-request-field-size", type=_positive_int, default=64 * 1024)
    p.add_argument("--max-body-size", type=int, default=None)
    args = p.parse_args(argv)
    try:
        _parse_bind(args.bind)
        app = load_app(args.app)
    except (ValueError, ImportError, AttributeError, TypeError) as e:
        sys.stderr.write(f"anvil.refserver: error: {e}\n")
        return 2
    try:
        return serve(app, bind=args.bind, parser=args.parser, backlog=args.backlog,
                     limit_request_line=args.limit_request_line,
                     limit_request_fields=args.limit_request_fields,
                     limit_request_field_size=args.limit_request_field_size,
                     max_body_size=args.max_body_size)
    except OSError as e:
        sys.stderr.write(f"anvil.refserver: error: {e}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
