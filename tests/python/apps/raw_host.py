"""A host of the core's C ABI (server/include/anvil/host.h) that calls it
directly through anvil._cffi_host, without _pywsgi: what test_host_abi.py
checks the ABI's own contract with. Run as a script:
`raw_host.py --bind ADDR [--threads N] [--body-buffer-size B] ...` (any
server option, by flag). Routes (the target's path):

  /head            the packed request head, as the body
  /parts           the packed head, two NULs, then its parts as sliced at
                   `starts`, NUL-separated
  /bad-status      start("20 OK") is refused: "CODE TEXT" of the refusal
  /respond         anvil_respond with a packed "head NUL body"
  /body            the body read with anvil_read_body: "FLAGS LENGTH SUM"
  /notify          two writes, the first with ANVIL_NOTIFY: "one rc=RC\\n" is
                   written before the second, "two\\n", ends the response
  /after-finish    a response, then a write after it: the write's code on stderr
  /unfinished      start, then the reference given back: the connection closes
  /file            this file, with anvil_send_file
"""

import os
import sys

from anvil._cffi_host import ffi, lib
import anvil._cffiwsgi  # noqa: F401 - defines the extern "Python" callbacks

SELF = os.path.abspath(__file__)


def head_of(status, *headers):
    parts = [status]
    for name, value in headers:
        parts += [name, value]
    return "\n".join(parts).encode("latin-1")


class RawHost:
    def __init__(self):
        self.pending = {}

    def worker_start(self):
        pass

    def worker_stop(self):
        sys.stderr.flush()

    def request(self, req, head, head_len, starts, parts, body, body_len, flags):
        packed = ffi.unpack(head, head_len)
        sliced = [packed[starts[i]:starts[i + 1] - 1] for i in range(parts)]
        path = packed.split(b"\n")[2].decode("latin-1")
        route = getattr(self, "route_" + path.strip("/").replace("-", "_"), None)
        if route is None:
            r = head_of("404 Not Found", ("Content-Length", "0")) + b"\0"
            lib.anvil_respond(req, r, len(r))
            lib.anvil_release(req)
            return
        data = ffi.unpack(body, body_len) if body_len else b""
        if route(req, packed, sliced, data, flags):
            return  # released later (resume)
        lib.anvil_release(req)

    def resume(self, req, error):
        what = self.pending.pop(req)
        if isinstance(what, int):
            os.close(what)
        else:
            lib.anvil_write(req, what, len(what), lib.ANVIL_LAST)
        lib.anvil_release(req)

    # --- routes (sliced: the head's parts, cut at `starts`): True when the
    # request is released later -----------------------------------------------
    def route_head(self, req, packed, sliced, body, flags):
        h = head_of("200 OK", ("Content-Type", "text/plain"))
        assert lib.anvil_start(req, h, len(h)) == 0
        lib.anvil_write(req, packed, len(packed), 0)
        lib.anvil_finish(req)

    def route_bad_status(self, req, packed, sliced, body, flags):
        h = head_of("20 OK")
        code = lib.anvil_start(req, h, len(h))
        text = ffi.string(lib.anvil_start_error_text(code)).decode()
        self.reply(req, f"{code} {text}".encode())

    def route_respond(self, req, packed, sliced, body, flags):
        r = head_of("201 Created", ("X-Packed", "yes")) + b"\0made"
        assert lib.anvil_respond(req, r, len(r)) == 0

    def route_body(self, req, packed, sliced, body, flags):
        if not flags & lib.ANVIL_BODY_BUFFERED:
            piece = ffi.new("char[]", 1000)
            parts = []
            while True:
                n = lib.anvil_read_body(req, piece, 1000)
                assert n >= 0, n
                if n == 0:
                    break
                parts.append(ffi.buffer(piece, n)[:])
            body = b"".join(parts)
        buffered = "buffered" if flags & lib.ANVIL_BODY_BUFFERED else "read"
        self.reply(req, f"{buffered} {len(body)} {sum(body)}".encode())

    def route_notify(self, req, packed, sliced, body, flags):
        h = head_of("200 OK")
        lib.anvil_start(req, h, len(h))
        one = b"one"
        rc = lib.anvil_write(req, one, len(one), lib.ANVIL_NOTIFY)
        rest = f" rc={rc}\n".encode()
        lib.anvil_write(req, rest, len(rest), 0)
        if rc == lib.ANVIL_PENDING:
            self.pending[req] = b"two\n"
            return True
        lib.anvil_write(req, b"two\n", 4, lib.ANVIL_LAST)

    def route_after_finish(self, req, packed, sliced, body, flags):
        self.reply(req, b"done")
        rc = lib.anvil_write(req, b"late", 4, 0)
        sys.stderr.write(f"raw_host: write after finish: {rc}\n")
        sys.stderr.flush()

    def route_unfinished(self, req, packed, sliced, body, flags):
        h = head_of("200 OK")
        lib.anvil_start(req, h, len(h))

    def route_file(self, req, packed, sliced, body, flags):
        fd = os.open(SELF, os.O_RDONLY)
        size = os.fstat(fd).st_size
        h = head_of("200 OK", ("Content-Length", str(size)))
        lib.anvil_start(req, h, len(h))
        rc = lib.anvil_send_file(req, fd, 0, size, lib.ANVIL_LAST | lib.ANVIL_NOTIFY)
        if rc == lib.ANVIL_PENDING:
            self.pending[req] = fd  # open until the completion
            return True
        os.close(fd)

    def route_parts(self, req, packed, sliced, body, flags):
        self.reply(req, packed + b"\0\0" + b"\0".join(sliced))

    @staticmethod
    def reply(req, data):
        h = head_of("200 OK", ("Content-Length", str(len(data))))
        lib.anvil_start(req, h, len(h))
        lib.anvil_write(req, data, len(data), lib.ANVIL_LAST)


def main(argv):
    config = lib.anvil_config_new()
    err = ffi.new("char[]", 512)
    for flag, value in zip(argv[::2], argv[1::2]):
        if lib.anvil_config_set(config, flag.encode(), value.encode(), err, 512):
            sys.exit("raw_host: " + ffi.string(err).decode())
    host = RawHost()
    handle = ffi.new_handle(host)
    cb = ffi.new("anvil_callbacks*")
    cb.user = handle
    cb.worker_start = lib.anvil_py_worker_start
    cb.worker_stop = lib.anvil_py_worker_stop
    cb.request = lib.anvil_py_request
    cb.resume = lib.anvil_py_resume
    cb.fork = ffi.NULL  # fork(2): this host has no fork hooks to run
    error = ffi.new("int*")
    rc = lib.anvil_serve(config, cb, err, 512, error)
    lib.anvil_config_free(config)
    if rc < 0:
        sys.exit(f"raw_host: {ffi.string(err).decode()} (errno {error[0]})")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
