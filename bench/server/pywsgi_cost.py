"""What the Python transaction of the python and cffi WSGI paths costs per
request, with no server and no crossing: _pywsgi's dispatcher on the
chrome-2013 head (packed as the core packs it) and the hello app, called in a
loop by the interpreter running this file, with a channel that does nothing.

  pypy3 bench/server/pywsgi_cost.py [--n N] [--rounds R]

Prints the median (min-max) CPU ns per request (process time, so that other
processes' load counts less than in wall time) over R rounds of N calls,
after one round of warm-up (PyPy's JIT compiles in it).
"""

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "bench", "apps"))

from anvil import _pywsgi  # noqa: E402
from hello import app  # noqa: E402


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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=200000)
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args()
    dispatch = _pywsgi.make_dispatcher(app, False, False, False)
    head = packed_head()
    chan = Chan()
    out = []
    for r in range(args.rounds + 1):
        t0 = time.process_time_ns()
        for _ in range(args.n):
            resp = dispatch(chan, head, None)
        dt = (time.process_time_ns() - t0) / args.n
        if r:
            out.append(dt)
    assert resp.endswith(b"\0Hello, World!"), resp
    print(f"{sys.implementation.name}: _pywsgi dispatch, chrome-2013 head, hello app: "
          f"{statistics.median(out):.0f} ns ({min(out):.0f}-{max(out):.0f}) per request, "
          f"{args.rounds} rounds of {args.n}")


if __name__ == "__main__":
    main()
