"""What the Python transaction of the python and cffi WSGI paths costs per
request, with no server and no crossing: _pywsgi's dispatcher on the
chrome-2013 head (packed as the core packs it), called in a loop by the
interpreter running this file, with a channel that does nothing, and on
PyPy with the head's part offsets in a cffi array, as the cffi path hands
them over (host.h's `starts`; --split: without them). Two apps:
`hello` (the same head every time: the head cache's hits) and `etag` (hello
with a new ETag value per request: a miss every time, the cache's worst case).

  pypy3 bench/server/pywsgi_cost.py [--n N] [--rounds R] [--baseline FILE] [--split]

Prints the median (min-max) CPU ns per request (process time, so that other
processes' load counts less than in wall time) over R rounds of N calls,
after one round of warm-up (PyPy's JIT compiles in it). --baseline FILE: a
_pywsgi.py to compare with (`git show main:python/anvil/_pywsgi.py >
/tmp/pywsgi_base.py`), measured in the same process, round by round
interleaved with this checkout's (the order alternating), and the ratio
this/baseline. Pin it (`taskset -c 1`) and state the load average it prints.
"""

import argparse
import importlib.util
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "bench", "apps"))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import measure  # noqa: E402
from anvil import _pywsgi  # noqa: E402
from hello import BODY, HEADERS, app as hello  # noqa: E402


def etag_app():
    count = [0]

    def app(environ, start_response):
        count[0] += 1
        start_response("200 OK", list(HEADERS) + [("ETag", '"%d"' % count[0])])
        return [BODY]

    return app


def packed_head():
    with open(os.path.join(ROOT, "bench", "requests", "chrome-2013.http"), "rb") as f:
        raw = f.read()
    head = raw.split(b"\r\n\r\n")[0].split(b"\r\n")
    method, target, _ = head[0].split(b" ")
    parts = [method, target, target.split(b"?")[0], b"", b"1", b"", b"127.0.0.1", b"8000",
             b"127.0.0.1", b"40000", b"http", b""]
    for line in head[1:]:
        name, _, value = line.partition(b":")
        parts += [name, value.strip()]
    return b"\n".join(parts)


class Chan:
    def start(self, head):
        pass

    def write(self, data, last):
        pass

    def finish(self):
        pass

    def abort(self):
        pass

    def stat(self, ns):
        pass


def load_module(path):
    spec = importlib.util.spec_from_file_location("pywsgi_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def part_starts(head):
    """host.h's `starts` for a packed head, in a cffi array."""
    import cffi

    starts = [0] + [i + 1 for i, c in enumerate(head) if c == 10] + [len(head) + 1]
    return cffi.FFI().new("uint32_t[]", starts), len(starts) - 1


def one_round(dispatch, chan, head, starts, n):
    args = (chan, head, None) if starts is None else (chan, head, None) + starts
    t0 = time.process_time_ns()
    for _ in range(n):
        resp = dispatch(*args)
    dt = (time.process_time_ns() - t0) / n
    assert resp.endswith(b"\0Hello, World!"), resp
    return dt


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=200000)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--baseline", help="a _pywsgi.py to measure against, interleaved")
    p.add_argument("--split", action="store_true",
                   help="split the head on PyPy too (the python path's way)")
    args = p.parse_args()
    builds = [("this", _pywsgi)]
    if args.baseline:
        builds.append(("baseline", load_module(args.baseline)))
    cells = {}  # (app, build) -> dispatch
    for app_name, make_app in (("hello", lambda: hello), ("etag", etag_app)):
        for build, module in builds:
            cells[app_name, build] = module.make_dispatcher(make_app(), False, False, False)
    head = packed_head()
    # As _cffiwsgi._SLICE: the offsets on PyPy only (the baseline predates them).
    sliced = sys.implementation.name == "pypy" and not args.split
    starts = {"this": part_starts(head) if sliced else None, "baseline": None}
    chan = Chan()
    load_before = measure.load_average()
    out = {cell: [] for cell in cells}
    for r in range(args.rounds + 1):
        order = list(cells) if r % 2 == 0 else list(reversed(list(cells)))
        for cell in order:
            dt = one_round(cells[cell], chan, head, starts[cell[1]], args.n)
            if r:  # round 0 warms up
                out[cell].append(dt)
    print(f"{sys.implementation.name} {sys.version.split()[0]}, commit "
          f"{measure.git_commit(ROOT, short=True, dirty_paths=['python/anvil'])}, "
          f"{measure.machine()['cpu_model']}; load average {load_before} before, "
          f"{measure.load_average()} after; {args.rounds} rounds of {args.n}, "
          f"head {'sliced at offsets' if sliced else 'split'}; "
          "CPU ns per request, median (min-max):")
    for app_name in ("hello", "etag"):
        line = f"  {app_name:6}"
        for build, _ in builds:
            v = out[app_name, build]
            line += f"  {build} {statistics.median(v):.0f} ({min(v):.0f}-{max(v):.0f})"
        if args.baseline:
            ratios = [a / b for a, b in zip(out[app_name, "this"], out[app_name, "baseline"])]
            line += (f"  this/baseline {statistics.median(ratios):.2f}x "
                     f"({min(ratios):.2f}-{max(ratios):.2f}, round by round)")
        print(line)


if __name__ == "__main__":
    main()
