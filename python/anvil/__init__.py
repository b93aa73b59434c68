"""anvil: an HTTP/1.1 server whose loop runs in C++ (Boost.Asio) and hosts WSGI apps.

`anvil.serve(app, bind=...)` runs the server in this process (and its forked
workers) until it is told to stop (SIGTERM/SIGINT: graceful drain); the command
line is `anvil [options] MODULE:CALLABLE`, or `python3 -m anvil` (see `anvil.cli`).
"""

import os
import sys

__version__ = "0.1.0"

__all__ = ["serve", "__version__"]

# How a request crosses into Python (ANVIL_WSGI_PATH forces one): "capi",
# pybind11 builds environ in C++ (CPython's default); "python", one cpyext
# call per request into anvil/_pywsgi.py; "cffi", the core's C ABI through
# cffi into the same _pywsgi transaction (PyPy's default: no cpyext).
WSGI_PATHS = ("capi", "python", "cffi")


def wsgi_path():
    """(path, forced): the WSGI path this interpreter serves with, and whether
    ANVIL_WSGI_PATH chose it; ValueError for a value that is not a path."""
    forced = os.environ.get("ANVIL_WSGI_PATH", "")
    if not forced:
        return ("cffi" if sys.implementation.name == "pypy" else "capi"), False
    if forced not in WSGI_PATHS:
        raise ValueError(f"ANVIL_WSGI_PATH: not capi, python or cffi: {forced!r}")
    return forced, True


def _serve(app, **options):
    """_core.serve, or the cffi path's serve for a WSGI app when it is chosen."""
    if not options.get("native"):
        path, _ = wsgi_path()
        if path == "cffi":
            from . import _cffiwsgi

            return _cffiwsgi.serve(app, **options)
    from . import _core

    return _core.serve(app, **options)


def serve(app, bind="127.0.0.1:8000", **options):
    """Serve the WSGI callable `app` until the server stops; returns the exit code.

    `bind` is one address or a list of them (`HOST:PORT`, `[::1]:PORT`,
    `unix:PATH`). `options` are the command-line options with `_` for `-`
    (`workers=2`, `threads=4`, `parser="llhttp"`, `graceful_timeout=5.0`, ...);
    unknown names raise TypeError, bad values ValueError, before anything binds.
    With `app=None, load_app=f`, each worker calls `f()` after fork to get its
    app (what the `anvil` command does without --preload); if f raises, the
    master stops every worker and returns 3 rather than restart them.
    """
    binds = [bind] if isinstance(bind, str) else list(bind)
    return _serve(app, bind=binds, **options)
