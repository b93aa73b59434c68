"""anvil: an HTTP/1.1 server whose loop runs in C++ (Boost.Asio) and hosts WSGI apps.

`anvil.serve(app, bind=...)` runs the server in this process (and its forked
workers) until it is told to stop (SIGTERM/SIGINT: graceful drain); the command
line is `anvil [options] MODULE:CALLABLE`, or `python3 -m anvil` (see `anvil.cli`).
"""

__version__ = "0.1.0"

__all__ = ["serve", "__version__"]


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
    from . import _core  # the extension is only needed to serve

    binds = [bind] if isinstance(bind, str) else list(bind)
    return _core.serve(app, bind=binds, **options)
