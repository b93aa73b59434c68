"""anvil: an HTTP/1.1 server whose loop runs in C++ (Boost.Asio) and hosts WSGI apps.

`anvil.serve(app, bind=...)` runs the server in this process (and its forked
workers) until it is told to stop (SIGTERM/SIGINT: graceful drain); the command
line is `python3 -m anvil [options] MODULE:CALLABLE` (see `anvil.cli`).
"""

__version__ = "0.1.0"

__all__ = ["serve", "__version__"]


def serve(app, bind="127.0.0.1:8000", **options):
    """Serve the WSGI callable `app` until the server stops; returns the exit code.

    `bind` is one address or a list of them (`HOST:PORT`, `[::1]:PORT`,
    `unix:PATH`). `options` are the command-line options with `_` for `-`
    (`workers=2`, `threads=4`, `parser="llhttp"`, `graceful_timeout=5.0`, ...);
    unknown names raise TypeError, bad values ValueError, before anything binds.
    """
    from . import _core  # the extension is only needed to serve

    binds = [bind] if isinstance(bind, str) else list(bind)
    return _core.serve(app, bind=binds, **options)
