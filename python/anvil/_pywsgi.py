"""The WSGI side of a request in pure Python, for PyPy (PEP 3333 in full).

On PyPy every C-API call goes through cpyext's emulation layer, so building
environ, start_response and wsgi.input from C++ costs about ten times what it
does on CPython. There the C++ handler (wsgi_pyside.cpp) calls one function
per request, the dispatcher made here once per worker, with the request head
packed into one bytes object; everything else (environ, start_response with
its exc_info rules, header checks, wsgi.input over the buffered body,
Content-Length for one-item lists, iteration and close()) runs here, where
PyPy's JIT compiles it. C++ is called back only through `chan`, the worker's
channel to the request in progress:

  chan.start(head)          commit the response head (raises ValueError)
  chan.write(data, last)    send body bytes (waits for them with --threads N)
  chan.finish() / chan.abort()
  chan.send_file(obj, fd, offset, count)   sendfile(2); obj.close() after
  chan.stat(ns)             --stats: time spent building environ

A packed head is "status\\nname\\nvalue..." (latin-1); the checks below make
sure no part holds a line break, so the split in C++ cannot be fooled.

The dispatcher returns one of: bytes (head + b"\\0" + the whole body, the
common case: C++ sends it in one write), None (the response was completed
through chan), or an iterator of non-empty bytes that C++ sends one at a time
(the iterator itself commits the head and finishes the response).
"""

import os
import re
import stat
import sys
import time
import traceback
from urllib.parse import unquote_to_bytes

# Bodies up to this size travel back to C++ joined with the head, in one object.
_COPY_LIMIT = 64 * 1024
# An app error ends its connection (issue 8 §3): the 500 says so.
_ERROR_RESPONSE = (b"500 Internal Server Error\nContent-Type\ntext/plain\nContent-Length\n22"
                   b"\nConnection\nclose"
                   b"\0Internal Server Error\n")
_ERROR_HEAD = _ERROR_RESPONSE.split(b"\0")[0]
_ERROR_BODY = b"Internal Server Error\n"

# The core's own checks (server/src/connection.cpp, Connection::start), so that
# a bad head is refused in start_response as it is on the C++ path, with the
# same texts. RFC 9110 §5.6.2 (token), §5.5 (field values: no CR, LF, NUL or
# other control characters); latin-1 only (PEP 3333 "native strings").
_STATUS = re.compile(r"[1-9][0-9]{2}(?: [^\x00-\x08\x0a-\x1f\x7f\u0100-\U0010ffff]*)?\Z")
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_VALUE = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f\u0100-\U0010ffff]*\Z")
_DIGITS = re.compile(r"[0-9]+\Z")
# RFC 9110 §7.6.1: hop-by-hop fields are the server's; PEP 3333 forbids them
# (Proxy-* too). "Connection: close" is allowed: the core honours it. The C++
# path's rule is parser::text::is_hop_by_hop (parser/include/anvil/parser/text.hpp).
_HOP_BY_HOP = frozenset(["connection", "keep-alive", "transfer-encoding", "upgrade", "te",
                         "trailer"])

# Header names seen by one worker are cached (name -> environ key, "" to
# drop); past this many the cache starts again, so a client cannot grow it.
_KEY_CACHE_SIZE = 256
# Response heads one worker has checked are cached (_Heads); past this many
# the cache starts again, and a head packed longer than _HEAD_CACHE_BYTES is
# not kept: at most 256 x 4 KiB of heads per worker (the keys, the app's own
# objects, hold about as much again).
_HEAD_CACHE_SIZE = 256
_HEAD_CACHE_BYTES = 4096


class FileWrapper:
    """wsgi.file_wrapper: sent with sendfile(2) when the file has a descriptor,
    else read in blksize pieces."""

    __slots__ = ("filelike", "blksize")

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize if blksize > 0 else 8192

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if not isinstance(data, bytes) or not data:
            raise StopIteration
        return data

    def close(self):
        if hasattr(self.filelike, "close"):
            self.filelike.close()


class LineReader:
    """readlines() and line iteration over a readline() (wsgi.input's, on
    the Python-side and cffi paths)."""

    __slots__ = ()

    def readlines(self, hint=None):
        limit = -1 if hint is None else hint.__index__()
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                break
            lines.append(line)
            total += len(line)
            if 0 <= limit <= total:
                break
        return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class Input(LineReader):
    """wsgi.input over the buffered body: reads never block, b"" at the end,
    and b"" once the response has finished (as on the C++ path)."""

    __slots__ = ("_data", "_pos", "_req")

    def __init__(self, data, req):
        self._data = data
        self._pos = 0
        self._req = req

    def _limit(self, size):
        # None or a negative number means "everything" (io.RawIOBase).
        end = len(self._data)
        if self._req.finished:
            self._pos = end
            return end
        if size is None:
            return end
        size = size.__index__()
        if size < 0:
            return end
        return min(end, self._pos + size)

    def read(self, size=None):
        end = self._limit(size)
        out = self._data[self._pos:end]
        self._pos = end
        return out

    def readline(self, size=None):
        end = self._limit(size)
        nl = self._data.find(b"\n", self._pos, end)
        if nl >= 0:
            end = nl + 1
        out = self._data[self._pos:end]
        self._pos = end
        return out


def _latin1(s, what):
    if not isinstance(s, str):
        raise TypeError("%s must be str, not %s" % (what, type(s).__name__))
    s.encode("latin-1")  # UnicodeEncodeError, as PyUnicode_AsLatin1String raises


def _check_head(status, headers):
    """(status, packed head, Content-Length or None) for start_response's
    arguments, with no hop-by-hop field among them; raises as the C++ path
    does. The packed head is "status\\nname\\nvalue..." (latin-1)."""
    _latin1(status, "status")
    if _STATUS.match(status) is None:
        raise ValueError("start_response: invalid status line (expected 'NNN reason')")
    if status[0] == "1":
        raise ValueError("start_response: a 1xx status is an interim response, not a final one "
                         "(RFC 9110 §15.2)")
    if not isinstance(headers, list):
        raise TypeError("headers must be a list, not " + type(headers).__name__)
    parts = [status]
    length = None
    for item in headers:
        if not isinstance(item, tuple) or len(item) != 2:
            raise TypeError("each header must be a (name, value) tuple")
        name, value = item
        _latin1(name, "header name")
        _latin1(value, "header value")
        lower = name.lower()
        if (lower in _HOP_BY_HOP or (lower.startswith("proxy-") and len(lower) > 6)) and \
                not (lower == "connection" and value.strip(" \t").lower() == "close"):
            raise ValueError("start_response: hop-by-hop header field '%s' (PEP 3333: the server "
                             "frames the response)" % name)
        if _NAME.match(name) is None:
            raise ValueError("start_response: invalid header name")
        if _VALUE.match(value) is None:
            raise ValueError("start_response: invalid header value (control character)")
        if lower == "content-length":
            if _DIGITS.match(value) is None or int(value) >= 1 << 64 or \
                    (length is not None and int(value) != length):
                raise ValueError("start_response: invalid Content-Length (not a decimal number, "
                                 "or two different values)")
            length = int(value)
        parts.append(name)
        parts.append(value)
    return status, "\n".join(parts).encode("latin-1"), length


class _Heads:
    """One worker's checked response heads, found by what the app gave,
    (status, tuple(headers)): an app answers with a handful of distinct heads,
    and a hit skips _check_head and the packing. `kept` maps the key's hash
    to (key, head), so that a miss hashes the key once; a head is kept the
    second time it is seen (the hashes of recent misses sit in `seen`, plain
    ints), so that heads made once per request (an ETag, a cookie) cost a
    lookup, not an entry each. A hit returns what was checked, never the
    app's objects: what goes to the core passed the checks even if a str
    subclass claims to equal a checked string."""

    __slots__ = ("kept", "seen")

    def __init__(self):
        self.kept = {}
        self.seen = [0] * _HEAD_CACHE_SIZE

    def check(self, status, headers):
        """_check_head(status, headers), through the cache."""
        key = None
        if type(headers) is list:
            key = (status, tuple(headers))
            try:
                h = hash(key)
                entry = self.kept.get(h)
                if entry is not None and entry[0] == key:
                    return entry[1]
            except Exception:  # noqa: BLE001 - unhashable parts: _check_head says what is wrong
                key = None
        head = _check_head(status, headers)
        if key is not None and len(head[1]) <= _HEAD_CACHE_BYTES:
            slot = h % _HEAD_CACHE_SIZE
            if self.seen[slot] != h:
                self.seen[slot] = h
            else:
                if len(self.kept) >= _HEAD_CACHE_SIZE:
                    self.kept.clear()
                self.kept[h] = (key, head)
        return head


class _Request:
    """One request's response state; start_response and write() are its methods."""

    __slots__ = ("chan", "method", "target", "heads", "called", "committed", "wrote",
                 "finished", "status", "head", "length", "result")

    def __init__(self, chan, method, target, heads):
        self.chan = chan
        self.method = method
        self.target = target
        self.heads = heads      # the worker's checked heads (_Heads)
        self.called = False
        self.committed = False  # the head went to the core (headers_sent)
        self.wrote = False      # write() or a body piece went to the core
        self.finished = False
        self.status = None
        self.head = None        # packed, as chan.start takes it
        self.length = None      # its Content-Length, None if it has none
        self.result = None

    # --- PEP 3333 "The start_response() Callable" ---------------------------
    def start_response(self, status, headers, exc_info=None):
        if self.finished:
            raise ValueError("start_response called after the response has finished")
        if exc_info is not None:
            if self.committed or self.wrote:
                # Too late to change the head: re-raise so the app unwinds.
                if not isinstance(exc_info, tuple) or len(exc_info) != 3:
                    raise TypeError("exc_info must be a (type, value, traceback) tuple")
                raise exc_info[1].with_traceback(exc_info[2])
        elif self.called:
            raise ValueError("start_response called a second time without exc_info")
        self.status, self.head, self.length = self.heads.check(status, headers)
        self.called = True
        return self.write

    def write(self, data):
        self._check_called()
        if self.finished:
            raise ValueError("write() after the response has finished")
        if not isinstance(data, bytes):
            raise TypeError("write() takes bytes, not " + type(data).__name__)
        if not data:
            return
        self._commit()
        self.wrote = True
        self.chan.write(data, False)

    # --- helpers ------------------------------------------------------------
    def _check_called(self):
        if not self.called:
            raise RuntimeError("the app returned without calling start_response")

    def _commit(self):
        if not self.committed:
            self.chan.start(self.head)
            self.committed = True

    def _add_length(self, n):
        """PEP 3333 lets a server add the Content-Length of a body it knows
        whole, within RFC 9110 §8.6: never on 204 or 304 (a 304's length would
        be the 200's, which only the app knows), and never 0 on HEAD, where an
        empty body is what the app left out, not the length a GET would have."""
        code = self.status[:3]
        if code == "204" or code == "304" or (n == 0 and self.method == "HEAD"):
            return
        self.head += b"\nContent-Length\n%d" % n
        self.length = n

    def _close(self):
        r = self.result
        self.result = None
        if r is not None and hasattr(r, "close"):
            r.close()

    def fail(self, where):
        """An exception in the app, its iteration or close(): 500 when nothing
        has gone out yet, else the connection is closed. Returns None."""
        _log_error("%s for %s %s" % (where, self.method, self.target))
        try:
            self._close()
        except BaseException:
            _log_error("closing the response iterable")
        if self.finished:
            return None
        self.finished = True
        if self.committed or self.wrote:
            self.chan.abort()
            return None
        self.chan.start(_ERROR_HEAD)
        self.chan.write(_ERROR_BODY, True)
        return None

    def respond(self, result):
        """What the app returned -> what the dispatcher returns (see the module doc)."""
        self.result = result
        t = type(result)
        if t is list or t is tuple:
            return self._send_list(result)
        if t is FileWrapper:
            try:
                if self._try_send_file(result):
                    return None
            except BaseException:
                return self.fail("sending a file")
        return self._stream(result)

    def _send_list(self, items):
        total = 0
        for item in items:
            if not isinstance(item, bytes):
                try:
                    raise TypeError("the app's response items must be bytes, not "
                                    + type(item).__name__)
                except TypeError:
                    return self.fail("checking the response")
            total += len(item)
        try:
            self._check_called()
        except RuntimeError:
            return self.fail("sending the response")
        # PEP 3333: Content-Length may be added when the whole body is known
        # and the app gave none (a list of at most one item).
        if self.length is None and not self.wrote and len(items) <= 1:
            self._add_length(total)
        self.result = None
        if total <= _COPY_LIMIT and not self.committed:
            self.finished = True
            head = self.head
            if len(items) == 1:
                return head + b"\0" + items[0]
            return head + b"\0" + b"".join(items)
        return self._send_items(items)

    def _send_items(self, items):
        try:
            self._commit()
        except BaseException:
            self.fail("sending the response")
            return
        self.wrote = True
        for item in items:
            if item:
                yield item
        self.finished = True
        self.chan.finish()

    def _try_send_file(self, w):
        """wsgi.file_wrapper around a regular file with a descriptor: sendfile(2)."""
        f = w.filelike
        if not hasattr(f, "fileno"):
            return False
        try:
            fd = f.fileno()
            offset = f.tell() if hasattr(f, "tell") else os.lseek(fd, 0, os.SEEK_CUR)
            if not isinstance(fd, int) or not isinstance(offset, int):
                return False
            st = os.fstat(fd)
        except Exception:
            return False  # io.UnsupportedOperation etc.: iterate it instead
        if fd < 0 or offset < 0 or not stat.S_ISREG(st.st_mode):
            return False
        try:
            self._check_called()
        except RuntimeError:
            self.fail("sending a file")
            return True
        count = max(st.st_size - offset, 0)
        if self.length is not None:
            count = min(count, self.length)
        elif not self.wrote:
            self._add_length(count)
        self._commit()
        self.finished = True
        self.result = None
        self.chan.send_file(w, fd, offset, count)
        return True

    def _stream(self, result):
        """Sends the iterable's items one by one (PEP 3333: a block is fully
        transmitted before the next one is asked for): C++ writes each item
        this generator yields and resumes it from the write's completion."""
        try:
            it = iter(result)
        except BaseException:
            self.fail("iterating the response")
            return
        try:
            while True:
                try:
                    item = next(it)
                except StopIteration:
                    break
                if not isinstance(item, bytes):
                    raise TypeError("the app's response items must be bytes, not "
                                    + type(item).__name__)
                if not item:
                    continue  # PEP 3333: empty items send nothing, not even the head
                self._check_called()
                self._commit()
                self.wrote = True
                yield item
        except GeneratorExit:
            # The client went away (C++ closed this generator): close() is still owed.
            self.finished = True
            try:
                self._close()
            except BaseException:
                _log_error("closing the response iterable")
            raise
        except BaseException:
            self.fail("iterating the response")
            return
        try:
            self._check_called()
            if self.length is None and not self.wrote:
                self._add_length(0)
            self._commit()
        except BaseException:
            self.fail("finishing the response")
            return
        try:
            self._close()
        except BaseException:
            self.fail("closing the response iterable")
            return
        self.finished = True
        self.chan.finish()


def _log_error(context):
    """The error and its traceback to stderr, as the C++ path logs them."""
    err = sys.stderr
    err.write("anvil: error: %s\n" % context)
    if sys.exc_info()[0] is not None:
        traceback.print_exc(file=err)
    err.flush()


def _decode_path(path):
    # PEP 3333 / CGI (RFC 3875 §4.1.5): PATH_INFO is the decoded path, bytes
    # mapped one to one (latin-1); a '%' without two hex digits stays as it is.
    if "%" not in path:
        return path
    return unquote_to_bytes(path.encode("latin-1")).decode("latin-1")


def _environ_key(name):
    lower = name.lower()
    if lower == "content-type":
        return "CONTENT_TYPE"
    if lower == "content-length" or "_" in name:
        # CONTENT_LENGTH comes from the parsed length; a name with '_' is
        # dropped as gunicorn does: "X_Forwarded_For" would otherwise spoof
        # the HTTP_X_FORWARDED_FOR of a proxy's "X-Forwarded-For".
        return ""
    return sys.intern("HTTP_" + name.upper().replace("-", "_"))


def make_dispatcher(app, multithread, multiprocess, stats, script_name=""):
    """dispatch(chan, head, body, starts=None, n=0) for one worker: head
    is the packed request ("method\\ntarget\\npath\\nquery\\nminor\\n
    content_length\\nserver_name\\nserver_port\\nremote_addr\\nremote_port\\n
    scheme\\nhost" then "\\nname\\nvalue" per field, latin-1; path, query,
    server, remote and scheme as C++ read them (wsgi_origin.cpp), host the
    authority of an absolute-form target or ""), body the whole body as bytes
    (None when empty) or, when it is still to come (100-continue), the C++
    wsgi.input object. With starts (host.h's: part i is head[starts[i]:
    starts[i + 1] - 1], i < n) the head is sliced instead of split.
    script_name: --root-path."""
    template = {
        "SCRIPT_NAME": script_name,
        "QUERY_STRING": "",
        "SERVER_SOFTWARE": "anvil",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": bool(multithread),
        "wsgi.multiprocess": bool(multiprocess),
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "wsgi.file_wrapper": FileWrapper,
    }
    keys = {}
    heads = _Heads()
    clock = time.perf_counter_ns

    def dispatch(chan, head, body, starts=None, n=0):
        t0 = clock() if stats else 0
        if starts is None:
            parts = head.decode("latin-1").split("\n")
        else:
            text = head.decode("latin-1")
            parts = [text[starts[i]:starts[i + 1] - 1] for i in range(n)]
        method = parts[0]
        target = parts[1]
        req = _Request(chan, method, target, heads)
        env = template.copy()
        env["REQUEST_METHOD"] = method
        env["PATH_INFO"] = _decode_path(parts[2])
        if parts[3]:
            env["QUERY_STRING"] = parts[3]
        # The target as sent, so that an app can tell %2F from / (gunicorn's keys).
        env["RAW_URI"] = env["REQUEST_URI"] = target
        env["SERVER_PROTOCOL"] = "HTTP/1.0" if parts[4] == "0" else "HTTP/1.1"
        if parts[5]:
            env["CONTENT_LENGTH"] = parts[5]
        env["SERVER_NAME"] = parts[6]
        env["SERVER_PORT"] = parts[7]
        env["REMOTE_ADDR"] = parts[8]
        env["REMOTE_PORT"] = parts[9]
        if parts[10] != "http":
            env["wsgi.url_scheme"] = parts[10]
        n = len(parts)
        i = 12
        while i + 1 < n:
            name = parts[i]
            key = keys.get(name)
            if key is None:
                key = _environ_key(name)
                if len(keys) >= _KEY_CACHE_SIZE:
                    keys.clear()
                keys[name] = key
            if key:
                value = parts[i + 1]
                old = env.get(key)
                if old is None:
                    env[key] = value
                elif key == "HTTP_COOKIE":
                    # The exception to RFC 9110 §5.3's comma: RFC 6265 §5.4.
                    env[key] = old + "; " + value
                else:
                    # RFC 9110 §5.3: repeated fields combine into one comma-separated list.
                    env[key] = old + "," + value
            i += 2
        if parts[11]:
            # RFC 9112 §3.2.2: an absolute-form target's authority replaces Host.
            env["HTTP_HOST"] = parts[11]
        if body is None:
            env["wsgi.input"] = Input(b"", req)
        elif type(body) is bytes:
            env["wsgi.input"] = Input(body, req)
        else:
            env["wsgi.input"] = body  # C++ reads the rest of the body on demand
        if stats:
            chan.stat(clock() - t0)
        try:
            result = app(env, req.start_response)
        except BaseException:
            return req.fail("calling the app")
        return req.respond(result)

    return dispatch
