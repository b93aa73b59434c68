"""The load generators, each pinned with taskset and returning a ClientResult.

Hammer (anvil's, preferred): exact counts, --expect-status, --timeout, --rate
with latency corrected for coordinated omission, a JSON report. Wrk
(keep-alive at full speed) and Ab (a new connection per request) stand in
when hammer is not built.
"""

import json
import os
import re
import subprocess
import tempfile

from .servers import pinned

PERCENTILES = {"p50_us": "50", "p99_us": "99", "p999_us": "99.9"}


class ClientResult:
    """What a client run counted. requests == answered + errors (hammer exact)."""

    def __init__(self, requests, errors, duration_s, requests_per_s, connects=None, raw=None,
                 **extra):
        self.requests = requests
        self.errors = errors
        self.duration_s = duration_s
        self.requests_per_s = requests_per_s
        self.connects = connects
        self.p50_us = self.p99_us = None
        self.__dict__.update(extra)
        self.raw = raw

    @property
    def answered(self):
        return max(self.requests - self.errors, 0)

    def as_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "raw"}


def percentiles(hist):
    """{"p50_us": .., "p99_us": .., "p999_us": ..} from a hammer histogram."""
    table = (hist or {}).get("percentiles_us") or {}
    return {key: table.get(p) for key, p in PERCENTILES.items()}


class Hammer:
    """anvil's load generator.

    threads: hammer -t; expect_status: e.g. "200" (else any 2xx counts);
    timeout: per request, e.g. "10s" (hammer's default is 2 s). Latency under
    rate= is from each request's intended send time (coordinated omission
    corrected); the uncorrected percentiles are kept beside it.
    """

    name = "hammer"

    def __init__(self, path, threads=1, expect_status=None, timeout=None):
        self.path = path
        self.threads = threads
        self.expect_status = expect_status
        self.timeout = timeout

    def run(self, host, port, request_file, close, requests, connections=40, rate=None, cpu=1,
            warmup=None, timeout_s=900):
        fd, json_path = tempfile.mkstemp(suffix=".json")
        os.close(fd)
        argv = [self.path, "-t", str(self.threads), "-c", str(connections), "--request",
                request_file, "--requests", str(requests), "--json", json_path, "--no-progress"]
        if warmup:
            argv += ["--warmup", str(warmup)]
        if self.expect_status:
            argv += ["--expect-status", str(self.expect_status)]
        if self.timeout:
            argv += ["--timeout", str(self.timeout)]
        if close:
            argv.append("--close")
        if rate:
            argv += ["--rate", str(rate)]
        argv.append(f"http://{host}:{port}/")  # the request file holds the target
        try:
            proc = subprocess.run(pinned(cpu, argv), capture_output=True, timeout=timeout_s)
            with open(json_path) as jf:
                text = jf.read()
        finally:
            os.unlink(json_path)
        if proc.returncode != 0 or not text.strip():
            raise RuntimeError(f"hammer exited {proc.returncode}: "
                               f"{proc.stderr.decode(errors='replace')[-300:]}")
        r = json.loads(text)
        extra = percentiles(r.get("latency"))
        if rate:
            extra.update({f"uncorrected_{k}": v
                          for k, v in percentiles(r.get("latency_uncorrected")).items()})
        return ClientResult(
            requests=r["requests"], errors=r["error_total"], duration_s=r["duration_s"],
            requests_per_s=r["requests_per_s"], connects=r.get("connects"), raw=r,
            error_kinds={k: v for k, v in (r.get("errors") or {}).items() if v},
            client_cpu_per_request_us=(r.get("cpu") or {}).get("per_request_us"), **extra)


class Wrk:
    """wrk (keep-alive only), sending the request's fields with -H; duration-based."""

    name = "wrk"

    def __init__(self, path="wrk"):
        self.path = path

    def run(self, host, port, request_file, close, requests, connections=40, rate=None, cpu=1,
            warmup=None, timeout_s=600, duration_s=5):
        if close or rate or warmup:
            raise ValueError("wrk measures keep-alive at full rate only")
        argv = [self.path, "-t", "1", "-c", str(connections), "-d", f"{duration_s}s", "--latency"]
        for name, value in _fields(request_file):
            argv += ["-H", f"{name}: {value}"]
        argv.append(f"http://{host}:{port}/")
        out = subprocess.run(pinned(cpu, argv), capture_output=True,
                             timeout=timeout_s).stdout.decode()
        total = int(re.search(r"(\d+) requests in", out).group(1))
        errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        errors += int(non2xx.group(1)) if non2xx else 0
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        return ClientResult(requests=total, errors=errors, duration_s=total / rps if rps else 0,
                            requests_per_s=rps)


class Ab:
    """ApacheBench (new connection per request, HTTP/1.0), fields with -H."""

    name = "ab"

    def __init__(self, path="ab"):
        self.path = path

    def run(self, host, port, request_file, close, requests, connections=40, rate=None, cpu=1,
            warmup=None, timeout_s=600):
        if not close or rate or warmup:
            raise ValueError("ab is used for new-connection-per-request runs only")
        argv = [self.path, "-q", "-n", str(requests), "-c", str(connections)]
        for name, value in _fields(request_file):
            if name.lower() not in ("host", "connection"):
                argv += ["-H", f"{name}: {value}"]
        argv.append(f"http://{host}:{port}/")
        out = subprocess.run(pinned(cpu, argv), capture_output=True,
                             timeout=timeout_s).stdout.decode()
        done = int(re.search(r"Complete requests:\s+(\d+)", out).group(1))
        failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))
        non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
        rps = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))
        return ClientResult(requests=done, errors=failed + (int(non2xx.group(1)) if non2xx else 0),
                            duration_s=done / rps if rps else 0, requests_per_s=rps)


def _fields(request_file):
    with open(request_file, "rb") as f:
        head = f.read().split(b"\r\n\r\n", 1)[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        yield name, value.strip()


def pick_client(hammer_path, close):
    """hammer when built, else ab (new connections) or wrk (keep-alive)."""
    if hammer_path and os.access(hammer_path, os.X_OK):
        return Hammer(hammer_path)
    return Ab() if close else Wrk()
