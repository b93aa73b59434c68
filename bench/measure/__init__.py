"""The measurement library every benchmark under bench/ shares (DESIGN.md's method).

    import sys; sys.path.insert(0, "<repo>/bench"); import measure

The pieces, each usable on its own:
  * servers: ServerSpec / start_server(spec, cpu): start a server pinned to one
    core, wait until it serves (anvil's "listening on" line, or a connect), stop
    it; and the command lines of the servers the benchmarks compare (anvil,
    anvil-native, gunicorn, uWSGI, waitress, nginx, anvil.refserver, twisted,
    uvicorn, and launch.py's wsgiref/tornado/gevent/eventlet/cheroot/hypercorn);
    import_error() says why an interpreter cannot import a server's modules.
  * cpu: user+sys of a process tree (/proc/PID/stat, 10 ms ticks) and its
    nanosecond twin (/proc/*/task/*/schedstat); snapshot() takes both.
  * probe: fetch() one response on a raw socket, verify() its status and body.
  * clients: Hammer (--json, --expect-status, --timeout, --rate), and Wrk / Ab
    for when hammer is not built.
  * core: counted_run(): a counted client run between two CPU snapshots of the
    server tree, CPU per request both ways.
  * warmup: warm_up(): run slices until the last two slices' CPU per request
    agree within 5% (up to a cap): the one warm-up rule (PyPy's JIT).
  * stats: median/min/max, difference() (two summaries' difference, or
    within noise where the runs' spread is larger), paired_difference() (the
    same over runs taken in rounds), the machine, the load average, the
    commit.
  * results: write_json() (atomic: a partial run stays resumable) and
    write_section() (a generated section of the README between markers).

Pinning is one way everywhere: `taskset -c CPU` in front of the server and of
the client (servers.pinned). hammer's own --cpus pins each of its threads, but
taskset pins anything (uWSGI, nginx, wrk, ab, a Python server and every
thread and child it starts), so servers and clients are pinned the same way.
"""

from .clients import Ab, ClientResult, Hammer, Wrk, pick_client
from .core import counted_run
from .cpu import CpuSnapshot, descendants, snapshot, tree_cpu_seconds, tree_runtime_seconds
from .probe import Response, fetch, keep_alive_request, verify
from .results import write_json, write_section
from .servers import STOP_TIMEOUT_S, RunningServer, ServerSpec, StartError, free_port, pinned
from .servers import import_error, start_server
from .stats import difference, git_commit, load_average, machine, paired_difference, summarize
from .warmup import warm_up

__all__ = [
    "Ab", "ClientResult", "Hammer", "Wrk", "pick_client", "counted_run", "CpuSnapshot",
    "descendants", "snapshot", "tree_cpu_seconds", "tree_runtime_seconds", "Response", "fetch",
    "keep_alive_request", "verify", "STOP_TIMEOUT_S", "RunningServer", "ServerSpec",
    "StartError", "free_port", "pinned", "import_error", "start_server", "difference",
    "git_commit", "load_average", "machine", "paired_difference", "summarize", "warm_up", "write_json",
    "write_section",
]
