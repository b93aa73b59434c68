"""Hostile clients for the soak test: each one misbehaves once on a connection
of its own and records what the server did.

Kinds (one is drawn per client, in turn):
  reset_mid_request   sends part of a request head, then resets (SO_LINGER 0)
  reset_mid_response  asks for /big (1 MiB), reads a few KiB, then resets
  slowloris           sends a head one byte every 0.5 s until the server gives
                      up on it (--timeout: 408 and close) or the client's own
                      limit passes
  garbage             sends random bytes, reads the answer (400 and close)
  oversized_head      sends a 100 KiB field, more than the server's head limit (431)
  body_cut_short      declares a 100 kB body, sends 1 kB of it and half-closes

Outcomes are counted per kind: the status the server answered with, `closed`
(end of stream without an answer), `reset` (the server reset), `rst_sent`
(the client reset as planned), `client_timeout` (the client's limit passed
first), `connect_error`. They are expected, and reported apart from the
normal clients' requests. Every socket operation has a timeout; nothing here
runs unbounded.
"""

import random
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor

KINDS = ("reset_mid_request", "reset_mid_response", "slowloris", "garbage", "oversized_head",
         "body_cut_short")
IO_TIMEOUT_S = 10.0
SLOWLORIS_BYTE_INTERVAL_S = 0.5
HEAD = b"GET / HTTP/1.1\r\nHost: soak\r\nUser-Agent: hostile\r\nAccept: */*\r\n\r\n"


def _reset(sock):
    """Close with an RST instead of a FIN (SO_LINGER on, timeout 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _status(sock, deadline):
    """The status code of the server's answer, or 'closed' / 'reset' / 'client_timeout'."""
    data = b""
    while b"\r\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            return "client_timeout"
        sock.settimeout(left)
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            return "client_timeout"
        except ConnectionResetError:
            return "reset"
        if not chunk:
            return "closed" if not data else "truncated"
        data += chunk
    parts = data.split(b" ", 2)
    return parts[1].decode("latin-1") if len(parts) > 1 else "malformed"


class Hostile:
    """Starts hostile clients against (host, port) at `rate` per second."""

    def __init__(self, host, port, rate, slowloris_limit_s, seed=1, max_in_flight=64):
        self.host = host
        self.port = port
        self.rate = rate
        self.slowloris_limit_s = slowloris_limit_s
        self.random = random.Random(seed)
        self.pool = ThreadPoolExecutor(max_workers=max_in_flight)
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.started = 0
        self.skipped = 0  # not started: max_in_flight clients were still running
        self.outcomes = {k: {} for k in KINDS}
        self.lock = threading.Lock()

    def run(self, seconds, stop_event=None):
        """Starts clients for `seconds`, then waits for the running ones to end."""
        t0 = time.monotonic()
        interval = 1.0 / self.rate
        n = 0
        while True:
            due = t0 + n * interval
            if due - t0 >= seconds or (stop_event is not None and stop_event.is_set()):
                break
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # the client schedule: one start every 1/rate seconds
            kind = KINDS[n % len(KINDS)]
            n += 1
            with self.lock:
                if self.in_flight >= self.max_in_flight:
                    self.skipped += 1
                    continue
                self.in_flight += 1
                self.started += 1
                payload_seed = self.random.getrandbits(32)
            self.pool.submit(self._one, kind, payload_seed)
        self.pool.shutdown(wait=True)

    def summary(self):
        with self.lock:
            return {"started": self.started, "skipped": self.skipped,
                    "outcomes": {k: dict(sorted(v.items())) for k, v in self.outcomes.items()}}

    def _one(self, kind, seed):
        try:
            outcome = self._client(kind, random.Random(seed))
        except ConnectionResetError:
            outcome = "reset"
        except BrokenPipeError:
            outcome = "closed"
        except socket.timeout:
            outcome = "client_timeout"
        except OSError as e:
            outcome = f"error_{e.errno}"
        with self.lock:
            counts = self.outcomes[kind]
            counts[outcome] = counts.get(outcome, 0) + 1
            self.in_flight -= 1

    def _connect(self):
        return socket.create_connection((self.host, self.port), timeout=IO_TIMEOUT_S)

    def _client(self, kind, rnd):
        try:
            sock = self._connect()
        except OSError:
            return "connect_error"
        deadline = time.monotonic() + IO_TIMEOUT_S
        try:
            if kind == "reset_mid_request":
                sock.sendall(HEAD[:rnd.randrange(1, len(HEAD) - 1)])
                _reset(sock)
                return "rst_sent"
            if kind == "reset_mid_response":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.sendall(HEAD.replace(b"GET / ", b"GET /big "))
                got = 0
                while got < 8192:
                    chunk = sock.recv(4096)
                    if not chunk:
                        return "closed"
                    got += len(chunk)
                _reset(sock)
                return "rst_sent"
            if kind == "slowloris":
                return self._slowloris(sock)
            if kind == "garbage":
                sock.sendall(bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 512))) + b"\r\n\r\n")
                return _status(sock, deadline)
            if kind == "oversized_head":
                sock.sendall(b"GET / HTTP/1.1\r\nHost: soak\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
                return _status(sock, deadline)
            if kind == "body_cut_short":
                sock.sendall(b"POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: 100000\r\n\r\n"
                             + b"b" * 1000)
                sock.shutdown(socket.SHUT_WR)
                return _status(sock, deadline)
            raise ValueError(kind)
        finally:
            if sock.fileno() >= 0:
                sock.close()

    def _slowloris(self, sock):
        """One byte of an endless head every interval; the server should end it."""
        limit = time.monotonic() + self.slowloris_limit_s
        head = b"GET / HTTP/1.1\r\nHost: soak\r\nX-Slow: "  # then a value that never ends
        i = 0
        while time.monotonic() < limit:
            byte = head[i:i + 1] if i < len(head) else b"a"
            i += 1
            try:
                sock.sendall(byte)
            except (BrokenPipeError, ConnectionResetError):
                return _status(sock, time.monotonic() + 1.0)
            sock.settimeout(SLOWLORIS_BYTE_INTERVAL_S)
            try:
                data = sock.recv(4096)
            except socket.timeout:
                continue
            if not data:
                return "closed"
            parts = data.split(b" ", 2)
            return parts[1].decode("latin-1") if len(parts) > 1 else "malformed"
        return "client_timeout"
