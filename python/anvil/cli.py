"""The command line: `python3 -m anvil [options] MODULE:CALLABLE`.

The server options are anvil-native's: argparse is built from
`_core.option_table()` (names, flags, help with defaults), and their values
are checked by the same C++ code (`server::set_option`). An option left out is
not passed on, so the C++ default applies. Bad arguments and an app that cannot
be imported give one line on stderr and exit status 2; a server that cannot
start (address in use) exits 1.
"""

import argparse
import importlib
import os
import sys

# Options whose values are a closed set: argparse lists them in --help.
_CHOICES = {"parser": ("llhttp", "fast"), "log_level": ("debug", "info", "warning", "error", "critical")}

# gunicorn's short forms.
_SHORT = {"--bind": "-b", "--workers": "-w", "--timeout": "-t"}


class _OneLineParser(argparse.ArgumentParser):
    """argparse prints the whole usage before an error; one line is enough."""

    def error(self, message):
        self.exit(2, f"anvil: error: {message} (see --help)\n")


def build_parser(option_table):
    p = _OneLineParser(
        prog="python3 -m anvil",
        description="Serve a WSGI app with anvil's C++ HTTP/1.1 core.",
        epilog="Signals (to the master): TERM and INT drain gracefully (stop accepting, let requests in "
        "flight finish within --graceful-timeout) and exit 0; QUIT stops at once; HUP replaces the "
        "workers. A worker that dies is restarted.",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("app", nargs="?", metavar="MODULE:CALLABLE",
                   help="the WSGI app to serve; CALLABLE defaults to 'application'")
    for name, flag, metavar, help_text, repeatable in option_table:
        flags = [_SHORT[flag], flag] if flag in _SHORT else [flag]
        if not metavar:
            p.add_argument(*flags, dest=name, action="store_true", help=help_text)
        elif repeatable:
            p.add_argument(*flags, dest=name, action="append", metavar=metavar, help=help_text)
        elif name in _CHOICES:
            p.add_argument(*flags, dest=name, choices=_CHOICES[name], help=help_text)
        else:
            p.add_argument(*flags, dest=name, metavar=metavar, help=help_text)
    p.add_argument("--native", choices=("hello", "echo"),
                   help="serve a native C++ handler instead of an app: the no-Python baseline")
    p.add_argument("--version", action="version", version=_version())
    return p


def _version():
    from anvil import __version__

    return f"anvil {__version__}"


class AppImportError(Exception):
    pass


def load_app(spec):
    """Import `MODULE:CALLABLE` (CALLABLE may be a dotted attribute path)."""
    module_name, _, attr = spec.partition(":")
    if not module_name:
        raise AppImportError(f"no module in {spec!r}")
    attr = attr or "application"
    # Like gunicorn: apps are found relative to the current directory.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any failure while importing the user's module
        raise AppImportError(f"cannot import {module_name!r}: {type(e).__name__}: {e}") from e
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppImportError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise AppImportError(f"{spec!r} is not callable")
    return obj


def main(argv=None):
    try:
        from anvil import _core
    except ImportError as e:
        sys.stderr.write(f"anvil: error: the _core extension is not built for this interpreter ({e})\n")
        return 2
    parser = build_parser(_core.option_table())
    options = vars(parser.parse_args(argv))
    spec = options.pop("app", None)
    native = options.get("native")
    if native and spec:
        parser.error("give either MODULE:CALLABLE or --native, not both")
    if not native and not spec:
        parser.error("the MODULE:CALLABLE of a WSGI app is required")
    app = None
    if spec:
        try:
            app = load_app(spec)
        except AppImportError as e:
            sys.stderr.write(f"anvil: error: {e}\n")
            return 2
    try:
        return _core.serve(app, **options)
    except (ValueError, TypeError) as e:
        sys.stderr.write(f"anvil: error: {e}\n")
        return 2
    except OSError as e:
        sys.stderr.write(f"anvil: error: cannot start: {e}\n")
        return 1
