"""The cffi WSGI path (PyPy's default; ANVIL_WSGI_PATH=cffi forces it).

The core is driven through its C ABI (server/include/anvil/host.h, built as
libanvil_host.so) with cffi, whose calls and @ffi.def_extern callbacks PyPy's
JIT compiles like Python code: a request costs one callback into Python and a
C call or two back, and no cpyext at all. The transaction itself is
_pywsgi's (environ, start_response and its rules, header checks, iteration,
close()); this module gives it one more `chan`, over an anvil_request, a
wsgi.input for a body read on demand, and serve(), the process model with
this host in every worker.

With --threads 1 the request callback runs on the worker's loop thread: a
write is copied and queued, and a response iterator is resumed from its
write's completion (the `resume` callback). With --threads N it runs on one
of N threads of the core, where writes wait and are not copied.
"""

import os
import sys
import threading

from anvil import _pywsgi
from anvil._cffi_host import ffi, lib

_BUFFERED = lib.ANVIL_BODY_BUFFERED
_STATS = lib.ANVIL_STATS
_LAST = lib.ANVIL_LAST
_NOTIFY = lib.ANVIL_NOTIFY
_PENDING = lib.ANVIL_PENDING
_EFINISHED = lib.ANVIL_EFINISHED
_READ_PIECE = 64 * 1024
_ERROR_SIZE = 1024
# The request head's parts are sliced at the offsets the core hands over
# (host.h's `starts`) on PyPy, where that cost 1.1 µs a request against 1.5
# for str.split in the same dispatcher (bench/README.md, the cffi findings);
# CPython's split, in C, is cheaper than slicing in Python there.
_SLICE = sys.implementation.name == "pypy"


def _text(p):
    return ffi.string(p).decode("utf-8", "replace")


class Channel:
    """_pywsgi's `chan` over one anvil_request; every method raises
    ValueError once the request has been given back to the core."""

    __slots__ = ("host", "req")

    def __init__(self, host, req):
        self.host = host
        self.req = req

    def _current(self):
        req = self.req
        if req is None:
            raise ValueError("no request in progress on this channel")
        return req

    def start(self, head):
        code = lib.anvil_start(self._current(), head, len(head))
        if code:
            raise ValueError("start_response: " + _text(lib.anvil_start_error_text(code)))

    def write(self, data, last):
        rc = lib.anvil_write(self._current(), data, len(data), _LAST if last else 0)
        if rc < 0:
            _raise_write(rc)

    def finish(self):
        lib.anvil_finish(self._current())

    def abort(self):
        lib.anvil_abort(self._current())

    def send_file(self, obj, fd, offset, count):
        """sendfile(2) to the end of the response; obj.close() once sent (the
        descriptor stays open until then)."""
        req = self._current()
        rc = lib.anvil_send_file(req, fd, offset, count, _LAST | _NOTIFY)
        if rc == _PENDING:
            self.host.pending[req] = (self, obj)
            return
        _close(obj, "closing the file wrapper")

    def stat(self, ns):
        lib.anvil_stat(self._current(), ns)


def _raise_write(rc):
    if rc == _EFINISHED:
        raise ValueError("write() after the response has finished")
    raise OSError("write(): " + os.strerror(-rc))


def _close(obj, context):
    try:
        if hasattr(obj, "close"):
            obj.close()
    except BaseException:
        _pywsgi._log_error(context)


class Input(_pywsgi.LineReader):
    """wsgi.input for a body the core reads on demand (spooled to disk past
    --body-buffer-size, or still to come after 100 Continue); b"" at the end
    of the body and once the response has finished, OSError when the body
    cannot be read (as the C-API path's)."""

    __slots__ = ("_chan", "_buf", "_pos", "_eof", "_piece")

    def __init__(self, chan):
        self._chan = chan
        self._buf = bytearray()  # read ahead, unread from _pos
        self._pos = 0
        self._eof = False
        self._piece = None

    def _available(self):
        return len(self._buf) - self._pos

    def _fill(self, want):
        """Reads until `want` bytes are buffered (None: all) or the body ends."""
        req = self._chan.req
        if req is None:
            self._buf, self._pos, self._eof = bytearray(), 0, True
            return
        if self._pos:
            del self._buf[:self._pos]
            self._pos = 0
        while not self._eof and (want is None or len(self._buf) < want):
            if self._piece is None:
                self._piece = ffi.new("char[]", _READ_PIECE)
            n = lib.anvil_read_body(req, self._piece, _READ_PIECE)
            if n < 0:
                self._eof = True
                raise OSError(_text(lib.anvil_body_error_text(n)))
            if n == 0:
                self._eof = True
                break
            self._buf += ffi.buffer(self._piece, n)

    def _take(self, n):
        end = len(self._buf) if n is None else min(len(self._buf), self._pos + n)
        out = bytes(self._buf[self._pos:end])
        self._pos = end
        return out

    @staticmethod
    def _size(size):
        if size is None:
            return None
        size = size.__index__()
        return None if size < 0 else size

    def read(self, size=None):
        n = self._size(size)
        if n == 0:
            return b""
        self._fill(n)
        return self._take(n)

    def readline(self, size=None):
        limit = self._size(size)
        if limit == 0:
            return b""
        while True:
            nl = self._buf.find(b"\n", self._pos)
            if nl >= 0:
                end = nl + 1 - self._pos
                return self._take(end if limit is None else min(end, limit))
            have = self._available()
            if limit is not None and have >= limit:
                return self._take(limit)
            self._fill(have + _READ_PIECE if limit is None else min(limit, have + _READ_PIECE))
            if self._available() == have:
                return self._take(None)


class Host:
    """One worker's side of the C ABI: the dispatcher, and the requests whose
    writes are in flight (pending: {req: (chan, iterator or file wrapper)})."""

    def __init__(self, app, load_app, multithread, multiprocess, script_name):
        self.app = app
        self.load_app = load_app
        self.multithread = multithread
        self.multiprocess = multiprocess
        self.script_name = script_name
        self.dispatch = self.dispatch_stats = None
        self.pending = {}

    def worker_start(self):
        app = self.app
        if self.load_app is not None:
            try:
                app = self.load_app()
            except Exception as e:  # noqa: BLE001 - the worker's boot failure, in one line
                raise RuntimeError(f"load_app: {type(e).__name__}: {e}") from e
            if not callable(app):
                raise RuntimeError("load_app: did not return a WSGI callable")
        if self.multithread and sys.implementation.name == "pypy":
            # PyPy makes its GIL on the first thread started from Python;
            # the core's request threads enter through cffi callbacks, which
            # need it made first (as _core's PyEval_InitThreads, PyPy #2274).
            t = threading.Thread(target=int)
            t.start()
            t.join()
        make = _pywsgi.make_dispatcher
        args = (self.multithread, self.multiprocess)
        self.dispatch = make(app, *args, False, self.script_name)
        self.dispatch_stats = make(app, *args, True, self.script_name)

    def request(self, req, head, head_len, starts, parts, body, body_len, flags):
        chan = Channel(self, req)
        try:
            packed = ffi.unpack(head, head_len)
            if flags & _BUFFERED:
                data = ffi.unpack(body, body_len) if body_len else None
            else:
                data = Input(chan)
            dispatch = self.dispatch_stats if flags & _STATS else self.dispatch
            if _SLICE:
                r = dispatch(chan, packed, data, starts, parts)
            else:
                r = dispatch(chan, packed, data)
            if r is None:
                pass
            elif type(r) is bytes:
                code = lib.anvil_respond(req, r, len(r))
                if code:
                    self._refused(req, code)
            elif self._pump(chan, r):
                return
        except BaseException:
            _pywsgi._log_error("serving the request")
            lib.anvil_respond(req, _pywsgi._ERROR_RESPONSE, len(_pywsgi._ERROR_RESPONSE))
            lib.anvil_abort(req)
        if req not in self.pending:
            self._release(chan)

    @staticmethod
    def _refused(req, code):
        """The core refused the head of a whole response: 500, logged as the
        C-API path logs it."""
        try:
            raise ValueError("start_response: " + _text(lib.anvil_start_error_text(code)))
        except ValueError:
            _pywsgi._log_error("sending the response")
        lib.anvil_respond(req, _pywsgi._ERROR_RESPONSE, len(_pywsgi._ERROR_RESPONSE))

    def _pump(self, chan, it):
        """Writes what the dispatcher's iterator yields (it commits the head and
        finishes the response itself); True when a write is in flight and
        resume() goes on from its completion."""
        req = chan.req
        for item in it:
            rc = lib.anvil_write(req, item, len(item), _NOTIFY)
            if rc == _PENDING:
                self.pending[req] = (chan, it)
                return True
            if rc < 0:
                it.close()  # the client went away: close() is still owed
                return False
        return False

    def resume(self, req, error):
        chan, what = self.pending.pop(req)
        if isinstance(what, _pywsgi.FileWrapper):
            _close(what, "closing the file wrapper")
        elif error:
            what.close()
        elif self._pump(chan, what):
            return
        self._release(chan)

    @staticmethod
    def _release(chan):
        req = chan.req
        chan.req = None
        lib.anvil_release(req)

    @staticmethod
    def worker_stop():
        # Workers leave with _exit(): what the app printed must be flushed now.
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except Exception:  # noqa: BLE001 - a closed or replaced stream: nothing to flush
                pass


# --- the callbacks (anvil_callbacks); none may raise into C ---------------------------


@ffi.def_extern()
def anvil_py_worker_start(user, err, err_size):
    try:
        ffi.from_handle(user).worker_start()
        return 0
    except BaseException as e:  # noqa: BLE001 - reported as the worker's boot failure
        text = str(e).encode("utf-8", "replace")[: err_size - 1]
        ffi.memmove(err, text + b"\0", len(text) + 1)
        return 1


@ffi.def_extern()
def anvil_py_worker_stop(user):
    ffi.from_handle(user).worker_stop()


@ffi.def_extern()
def anvil_py_request(user, req, head, head_len, starts, parts, body, body_len, flags):
    ffi.from_handle(user).request(req, head, head_len, starts, parts, body, body_len, flags)


@ffi.def_extern()
def anvil_py_resume(user, req, error):
    try:
        ffi.from_handle(user).resume(req, error)
    except BaseException:
        _pywsgi._log_error("resuming the response")


@ffi.def_extern()
def anvil_py_fork(user):
    # The interpreter's own fork runs its fork hooks (os.register_at_fork,
    # its locks and threads); fork(2) from C would not.
    try:
        return os.fork()
    except OSError as e:
        ffi.errno = e.errno or 0
        return -1


def _option_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _set(config, name, value, err):
    if name == "bind" and not isinstance(value, str):
        for b in value:
            _set(config, name, b, err)
        return
    if lib.anvil_config_set(config, name.encode(), _option_text(value).encode(), err, _ERROR_SIZE):
        raise ValueError(_text(err))


def serve(app, **options):
    """anvil._core.serve for a WSGI app on the cffi path: the same options,
    errors and exit codes."""
    config = lib.anvil_config_new()
    if config == ffi.NULL:
        raise MemoryError("anvil_config_new")
    err = ffi.new("char[]", _ERROR_SIZE)
    try:
        load_app = None
        for name, value in options.items():
            if value is None:
                continue
            if name == "native":
                raise ValueError("native handlers are served by anvil._core.serve")
            if name == "load_app":
                load_app = value
                continue
            _set(config, name, value, err)
        error = lib.anvil_config_take_systemd(config, err, _ERROR_SIZE)
        for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            os.environ.pop(name, None)
        if error:
            raise OSError(error, _text(err))
        if load_app is not None:
            if app is not None:
                raise ValueError("give either an app or load_app, not both")
            if not callable(load_app):
                raise TypeError("load_app must be callable")
        elif app is None or not callable(app):
            raise TypeError("app must be a WSGI callable")
        threads = int(options.get("threads") or 1)
        workers = int(options["workers"]) if options.get("workers") is not None else 1
        host = Host(app, load_app, threads > 1, workers > 1, options.get("root_path") or "")
        handle = ffi.new_handle(host)
        callbacks = ffi.new("anvil_callbacks*")
        callbacks.user = handle
        callbacks.worker_start = lib.anvil_py_worker_start
        callbacks.worker_stop = lib.anvil_py_worker_stop
        callbacks.request = lib.anvil_py_request
        callbacks.resume = lib.anvil_py_resume
        callbacks.fork = lib.anvil_py_fork
        errno = ffi.new("int*")
        rc = lib.anvil_serve(config, callbacks, err, _ERROR_SIZE, errno)
        if rc < 0:
            if errno[0]:
                raise OSError(errno[0], _text(err))
            raise RuntimeError(_text(err))
        return rc
    finally:
        lib.anvil_config_free(config)
