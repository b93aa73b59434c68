"""The app's own CPU time per request, measured the same way in every server.

wrap(app, directory) returns a WSGI app that reads this thread's CPU clock
(time.thread_time_ns) before calling `app` and after it has iterated the
body and called its close(): the app's own work, whichever server calls it
and on whichever thread. The body goes back to the server as a list, so every
server sends the same thing. What the app calls of the server's (its
start_response, reads of wsgi.input) is inside the window and counts as app
time: the server's share is, if anything, understated.

Each process adds its calls and nanoseconds to DIR/PID.timing, a small
memory-mapped file (three little-endian int64: calls, app CPU ns, the CPU
cost of one clock read), which the harness reads between runs: no system
call per request besides the two clock reads. The file is opened at the
first request, so a server that forks its workers after loading the app
(gunicorn, anvil, uWSGI) gets one file per worker.

The clock read itself is a system call (about 2 µs of CPU in this project's
VMs): the window holds about one read's cost, and the other falls outside it,
to the server. Each process measures that cost once (calibrate()) and
records it, and the harness takes it out of both sides (bench/apps/run.py).
"""

import mmap
import os
import struct
import threading
import time

RECORD = struct.Struct("<qqq")  # calls, app CPU ns, one clock read's CPU ns
SUFFIX = ".timing"
clock = time.thread_time_ns


def calibrate(reads=2000):
    """The CPU cost of one clock() read, in ns (the median of 5 batches)."""
    batches = []
    for _ in range(5):
        t0 = clock()
        for _ in range(reads):
            clock()
        batches.append((clock() - t0) // (reads + 1))
    return sorted(batches)[2]


class Accumulator:
    """This process's totals, mirrored into DIR/PID.timing after every call."""

    def __init__(self, directory):
        self.directory = directory
        self.lock = threading.Lock()
        self.map = None
        self.calls = self.ns = 0
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self):
        # A child forked after requests starts its own file.
        self.map = None
        self.calls = self.ns = 0

    def _open(self):
        path = os.path.join(self.directory, f"{os.getpid()}{SUFFIX}")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, RECORD.size)
            self.map = mmap.mmap(fd, RECORD.size)
        finally:
            os.close(fd)
        self.clock_ns = calibrate()

    def add(self, ns):
        with self.lock:
            if self.map is None:
                self._open()
            self.calls += 1
            self.ns += ns
            RECORD.pack_into(self.map, 0, self.calls, self.ns, self.clock_ns)


def drain(result):
    """The body as a list, the iterable closed (PEP 3333). The iterable (and
    all it holds: a framework's request and response objects) is freed when
    this returns, inside the timed window: freeing it is the app's work."""
    try:
        return list(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def wrap(app, directory):
    """app, timed into directory's files (see the module's docstring)."""
    acc = Accumulator(directory)

    def timed(environ, start_response):
        t0 = clock()
        body = drain(app(environ, start_response))
        t1 = clock()
        acc.add(t1 - t0)
        return body

    return timed


def read(directory):
    """{"calls", "ns", "clock_ns", "processes"} summed over directory's files
    (clock_ns: the calls-weighted mean of the processes' calibrations)."""
    calls = ns = weighted = processes = 0
    for name in sorted(os.listdir(directory)):
        if not name.endswith(SUFFIX):
            continue
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read(RECORD.size)
        if len(data) < RECORD.size:
            continue
        c, n, clock_ns = RECORD.unpack(data)
        calls += c
        ns += n
        weighted += c * clock_ns
        processes += 1
    return {"calls": calls, "ns": ns, "clock_ns": weighted / calls if calls else 0,
            "processes": processes}
