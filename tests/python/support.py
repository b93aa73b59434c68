"""Support for the end-to-end tests: real `python -m anvil` servers on port 0,
and a small HTTP/1.1 response reader for raw-socket tests.

The server's interpreter is $ANVIL_TEST_PYTHON (default /usr/bin/python3); the
suite itself runs under CPython's pytest, so `make test` runs it twice, once
with ANVIL_TEST_PYTHON=/usr/bin/pypy3. A server is ready when it has printed
one "anvil: listening on ..." line per --bind; nothing waits on a sleep.
"""

import os
import re
import select
import signal
import socket
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTS = os.path.dirname(os.path.abspath(__file__))
SERVER_PYTHON = os.environ.get("ANVIL_TEST_PYTHON", "/usr/bin/python3")
# The folder that holds the `anvil` package every server and in-process test
# imports: a sanitizer build stages its own (tests/sanitize/run.sh) and names
# it here, so that its _core is the one under test.
PACKAGE_DIR = os.environ.get("ANVIL_TEST_PACKAGE_DIR") or os.path.join(ROOT, "python")
IS_PYPY = "pypy" in os.path.basename(SERVER_PYTHON)
# "asan" or "tsan" when tests/sanitize/run.sh runs the suite against a
# sanitizer build of _core (preloaded into every server), else None.
SANITIZER = os.environ.get("ANVIL_TEST_SANITIZER") or None
START_TIMEOUT = 30.0
LISTENING = re.compile(r"anvil: listening on (\S+)")


def wait_exited(pid, timeout=10.0):
    """Block until process pid (not our child) has exited; False on timeout."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


class Server:
    """One `SERVER_PYTHON -m anvil` process and its log (stderr, collected)."""

    def __init__(self, app, *args, binds=("127.0.0.1:0",), env=None, cwd=None, listeners=None,
                 command=None, wrapper=(), **popen_kwargs):
        """listeners: how many "listening on" lines to wait for (default: one per
        bind; a --config file may bind instead); command: what to run instead of
        `SERVER_PYTHON -m anvil`; wrapper: a command line that runs the server's
        ("sh", "-c", ...); popen_kwargs: more for subprocess.Popen (pass_fds,
        preexec_fn)."""
        self.args = list(args)
        cmd = list(wrapper) + list(command or [SERVER_PYTHON, "-m", "anvil"])
        for b in binds:
            cmd += ["--bind", b]
        cmd += self.args
        if app:
            cmd.append(app)
        environ = dict(os.environ)
        environ["PYTHONPATH"] = os.pathsep.join([PACKAGE_DIR, TESTS])
        environ["PYTHONUNBUFFERED"] = "1"
        environ.update(env or {})
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=environ, cwd=cwd or TESTS, **popen_kwargs)
        self._lines = []
        self._cond = threading.Condition()
        self._closed = False
        self.urls = self._wait_listening(len(binds) if listeners is None else listeners)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        self._out_reader = threading.Thread(target=self._drain_stdout, daemon=True)
        self.stdout_lines = []
        self._out_reader.start()

    def _read_line(self, deadline):
        """One stderr line before the deadline, None at EOF (startup only)."""
        buf = b""
        fd = self.proc.stderr.fileno()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("server did not start in time; log so far:\n" + "".join(self._lines))
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            ch = os.read(fd, 1)
            if not ch:
                return buf.decode("utf-8", "replace") if buf else None
            buf += ch
            if ch == b"\n":
                return buf.decode("utf-8", "replace")

    def _wait_listening(self, count):
        deadline = time.monotonic() + START_TIMEOUT
        urls = []
        while len(urls) < count:
            line = self._read_line(deadline)
            if line is None:
                self.proc.wait(timeout=10)
                raise RuntimeError(f"server exited with {self.proc.returncode} before listening:\n"
                                   + "".join(self._lines))
            self._lines.append(line)
            m = LISTENING.search(line)
            if m:
                urls.append(m.group(1))
        return urls

    def _drain(self):
        for raw in iter(self.proc.stderr.readline, b""):
            with self._cond:
                self._lines.append(raw.decode("utf-8", "replace"))
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _drain_stdout(self):
        for raw in iter(self.proc.stdout.readline, b""):
            self.stdout_lines.append(raw.decode("utf-8", "replace"))

    @property
    def log(self):
        with self._cond:
            return "".join(self._lines)

    def wait_for_log(self, pattern, timeout=10.0):
        """Block until a stderr line matches pattern (a regex); returns the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._lines:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise AssertionError(f"no log line matching {pattern!r}; log:\n" + "".join(self._lines))
                self._cond.wait(left)

    def wait_for_log_count(self, pattern, count, timeout=10.0):
        """Block until `count` stderr lines match pattern; returns their matches."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in map(rx.search, self._lines) if m]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise AssertionError(f"fewer than {count} log lines matching {pattern!r}; log:\n"
                                         + "".join(self._lines))
                self._cond.wait(left)

    def worker_pids(self, count):
        """PIDs of the first `count` workers, once each has said it started."""
        return sorted(int(m.group(1)) for m in self.wait_for_log_count(r"anvil: worker (\d+) started", count))

    @property
    def url(self):
        return self.urls[0]

    @property
    def address(self):
        """(host, port) of the first TCP listener."""
        m = re.match(r"http://\[?([^\]]+?)\]?:(\d+)$", self.urls[0])
        assert m, self.urls[0]
        return m.group(1), int(m.group(2))

    @property
    def host(self):
        return self.address[0]

    @property
    def port(self):
        return self.address[1]

    def connect(self, timeout=10.0):
        host, port = self.address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect((host, port))
        return s

    def children(self):
        """PIDs of the master's live worker processes."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()
            if int(fields[1]) == self.proc.pid and fields[0] != "Z":
                pids.append(int(entry))
        return sorted(pids)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=15.0):
        """SIGTERM (graceful) and wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        self._out_reader.join(timeout=10)
        return self.proc.returncode


# --- HTTP helpers for raw-socket tests -----------------------------------------

class Response:
    def __init__(self, status, reason, version, headers, body):
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name, default=None):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return default

    def __repr__(self):
        return f"<Response {self.status} {self.headers} {self.body[:80]!r}>"


class Reader:
    """Reads HTTP/1.1 responses off a socket, with a deadline per read."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def _line(self):
        for _ in range(100000):
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()
        raise AssertionError("line too long")

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self, head_request=False):
        line = self._line()
        while line == b"":  # tolerate nothing; an empty line here is a protocol error
            raise AssertionError("empty status line")
        version, status, reason = (line.decode("latin-1").split(" ", 2) + [""])[:3]
        headers = []
        while True:
            line = self._line()
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name, value.strip()))
        resp = Response(int(status), reason, version, headers, b"")
        code = int(status)
        if head_request or code in (204, 304) or 100 <= code < 200:
            return resp
        te = resp.header("Transfer-Encoding")
        cl = resp.header("Content-Length")
        if te and "chunked" in te.lower():
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                body += self._exact(size)
                assert self._exact(2) == b"\r\n"
            resp.body = body
        elif cl is not None:
            resp.body = self._exact(int(cl))
        else:
            while True:
                try:
                    self._fill()
                except EOFError:
                    break
            resp.body, self.buf = self.buf, b""
        return resp

    def closed(self, timeout=10.0):
        """True if the peer closes (EOF or reset) within timeout with no more data."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        self.buf += data
        return data == b""


def request(server, raw, head_request=False, timeout=10.0):
    """Send raw bytes on a new connection, return the first response."""
    with server.connect(timeout) as s:
        s.sendall(raw)
        return Reader(s).response(head_request=head_request)


def post(server, path, body, headers=()):
    """One POST with a Content-Length body on its own connection (closed after)."""
    lines = [f"POST {path} HTTP/1.1", "Host: t", f"Content-Length: {len(body)}",
             "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    return request(server, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def get(server, path, headers=(), version="1.1"):
    lines = [f"GET {path} HTTP/{version}", "Host: test"] + [f"{k}: {v}" for k, v in headers]
    lines += ["Connection: close", "", ""]
    return request(server, "\r\n".join(lines).encode("latin-1"))
