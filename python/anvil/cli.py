"""The command line: `anvil [options] MODULE:CALLABLE` (also `python3 -m anvil`).

The server options are anvil-native's: argparse is built from
`_core.option_table()` (names, flags, help with defaults), and their values
are checked by the same C++ code (`server::set_option`). An option left out is
not passed on, so the C++ default applies. The options of this command only
say where the app's code comes from and when it is imported: `--config`,
`--chdir`, `--pythonpath`, `--preload` (gunicorn's names and behaviour).

Exit status: 2 for a bad argument or option value (one line on stderr); 1 when
the server cannot start (address in use) or the app cannot be imported,
whether the master imports it (`--preload`, or `--workers 0`) or each worker
does (the default): the master then stops every worker and exits, with the
first worker's error as its one line, rather than restart workers that can
only fail again.
"""

import argparse
import importlib
import os
import platform
import sys
import traceback
import types

import anvil

# Options whose values are a closed set: argparse lists them in --help.
_CHOICES = {"parser": ("llhttp", "fast", "http-parser"), "log_level": ("debug", "info", "warning", "error", "critical")}

# gunicorn's short forms.
_SHORT = {"--bind": "-b", "--workers": "-w", "--timeout": "-t"}

# Names a gunicorn configuration file uses for settings that anvil spells
# otherwise; the others (bind, workers, threads, backlog, keepalive, chdir,
# pythonpath, ...) are the same in both.
_GUNICORN_NAMES = {
    "accesslog": "access_log",
    "errorlog": "error_log",
    "loglevel": "log_level",
    "preload_app": "preload",
    "worker_connections": "max_connections",
    "wsgi_app": "app",
}

# What anvil::server exits with when a worker could not start (process.cpp's
# kBootFailure): the master has already stopped the others.
_WORKER_BOOT_FAILURE = 3


class UsageError(Exception):
    """A bad argument or option value: one line on stderr, exit status 2."""


class AppImportError(Exception):
    """The app cannot be imported: one line on stderr, exit status 1."""


class _OneLineParser(argparse.ArgumentParser):
    """argparse prints the whole usage before an error; one line is enough."""

    def error(self, message):
        self.exit(2, f"anvil: error: {message} (see --help)\n")


def build_parser(option_table):
    p = _OneLineParser(
        prog="anvil",
        description="Serve a WSGI app with anvil's C++ HTTP/1.1 core. The same as `python3 -m anvil`.",
        epilog="Signals (to the master): TERM and INT drain gracefully (stop accepting, let requests in "
        "flight finish within --graceful-timeout) and exit 0; QUIT stops at once; HUP replaces the "
        "workers. A worker that dies is restarted; one that cannot import the app stops the server "
        "(exit status 1).",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("app", nargs="?", metavar="MODULE:CALLABLE",
                   help="the WSGI app to serve; CALLABLE defaults to 'application'; MODULE is "
                   "looked up from the current directory first")
    p.add_argument("-c", "--config", metavar="FILE",
                   help="a Python file whose module-level names set options (workers = 4, "
                   "bind = ['127.0.0.1:8000'], ...: the keyword names of anvil.serve, or gunicorn's "
                   "setting names); a flag given on the command line overrides the file")
    p.add_argument("--chdir", metavar="DIR", help="change to DIR before importing the app")
    p.add_argument("--pythonpath", metavar="DIRS",
                   help="comma-separated directories put in front of sys.path, searched in that order")
    p.add_argument("--preload", action="store_true",
                   help="import the app in the master before forking the workers (default: each "
                   "worker imports it)")
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
    p.add_argument("--version", action="store_true",
                   help="print the version, the interpreter, the parsers and the WSGI path, and exit")
    return p


def version_text(core):
    """What `anvil --version` prints: one `name: value` line per fact."""
    from anvil import __version__

    impl = platform.python_implementation()
    interp = f"{impl} {platform.python_version()}"
    if impl == "PyPy":
        interp += " (PyPy {}.{}.{})".format(*sys.pypy_version_info[:3])
    if core is None:
        parsers = "none: the _core extension is not built for this interpreter"
    else:
        parsers = ", ".join(core.parser.kinds())
    return (f"anvil {__version__}\n"
            f"interpreter: {interp} ({sys.executable})\n"
            f"parsers: {parsers}\n"
            f"WSGI path: {wsgi_path()}\n")


def wsgi_path():
    """The way into Python this interpreter serves with, and why (anvil.wsgi_path
    decides it for the server); for --version, without starting one."""
    try:
        path, forced = anvil.wsgi_path()
    except ValueError:
        forced = os.environ["ANVIL_WSGI_PATH"]
        return f"none: ANVIL_WSGI_PATH={forced!r} is not capi, python or cffi, the server will not start"
    if forced:
        return f"{path} (ANVIL_WSGI_PATH)"
    return (f"{path} (the default for {platform.python_implementation()}; "
            "ANVIL_WSGI_PATH=capi|python|cffi forces one)")


def _one_line(text):
    return " ".join(str(text).split())


def read_config(path, parser):
    """The module-level names of the Python file `path` as {option name: value}.

    Names starting with `_`, modules and what was imported from elsewhere
    (`from os import cpu_count`) are helpers, not settings; any other name
    must be an option (or gunicorn's name for one)."""
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as e:
        raise UsageError(f"--config {path}: {e.strerror}") from None
    scope = {"__name__": "__anvil_config__", "__file__": os.path.abspath(path)}
    try:
        exec(compile(source, path, "exec"), scope)  # noqa: S102 - the operator's own config file
    except Exception as e:  # noqa: BLE001 - any failure in the file is the file's error
        raise UsageError(f"--config {path}: {type(e).__name__}: {_one_line(e)}") from None
    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", "config", "version")}
    options = {}
    for name, value in scope.items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        if callable(value) and getattr(value, "__module__", None) != scope["__name__"]:
            continue
        key = _GUNICORN_NAMES.get(name, name)
        if key not in actions:
            raise UsageError(f"--config {path}: unknown setting {name!r}")
        options[key] = _config_value(path, name, value, actions[key])
    return options


def _config_value(path, name, value, action):
    """A value from the config file, in the form argparse would have made it."""
    where = f"--config {path}: {name}"
    if isinstance(action, argparse._StoreTrueAction):
        if not isinstance(value, bool):
            raise UsageError(f"{where}: not True or False: {value!r}")
        return value
    if isinstance(action, argparse._AppendAction):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
            raise UsageError(f"{where}: not a string or a list of strings: {value!r}")
        return list(items)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UsageError(f"{where}: not a string or a number: {value!r}")
    if action.choices and value not in action.choices:
        raise UsageError(f"{where}: not one of {', '.join(action.choices)}: {value!r}")
    return value


def add_code_paths(chdir, pythonpath):
    """--chdir, then --pythonpath, then the current directory in front of
    sys.path, as gunicorn does: the app is found where the operator runs it."""
    if chdir is not None:
        try:
            os.chdir(chdir)
        except OSError as e:
            raise UsageError(f"--chdir {chdir}: {e.strerror}") from None
    dirs = []
    if pythonpath is not None:
        for d in pythonpath.split(","):
            if not d:
                raise UsageError(f"--pythonpath: an empty directory name in {pythonpath!r}")
            if not os.path.isdir(d):
                raise UsageError(f"--pythonpath: not a directory: {d}")
            dirs.append(os.path.abspath(d))
    cwd = os.getcwd()
    for d in reversed(dirs + [cwd]):
        if d in sys.path:
            sys.path.remove(d)
        sys.path.insert(0, d)


def split_spec(spec):
    """`MODULE:CALLABLE` -> (module, attribute path); UsageError if malformed."""
    module_name, _, attr = spec.partition(":")
    attr = attr or "application"
    names = module_name.split(".") + attr.split(".")
    if not module_name or not all(n.isidentifier() for n in names):
        raise UsageError(f"not MODULE:CALLABLE: {spec!r}")
    return module_name, attr


def _import_site(e):
    """' (at FILE:LINE)' for the line of the app's code where importing it
    failed: the traceback's last frame outside the import machinery and this
    file (or a SyntaxError's own place); '' when there is none (the module
    itself was not found)."""
    if isinstance(e, SyntaxError) and e.filename and e.lineno:
        return f" (at {e.filename}:{e.lineno})"
    machinery = (os.path.dirname(importlib.__file__) + os.sep, os.path.abspath(__file__))
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if not f.filename.startswith("<") and not f.filename.startswith(machinery)]
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def load_app(spec, debug=False):
    """Import `MODULE:CALLABLE` (CALLABLE may be a dotted attribute path).
    debug (--log-level debug): an import error's whole traceback goes to
    stderr before its one line."""
    module_name, attr = split_spec(spec)
    try:
        obj = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any failure while importing the user's module
        if debug:
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
        raise AppImportError(f"cannot import {module_name!r}: {type(e).__name__}: {_one_line(e)}"
                             + _import_site(e)) from e
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppImportError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise AppImportError(f"{spec!r} is not callable")
    return obj


def loader_for_workers(spec, debug=False):
    """`load_app` for _core.serve: each worker calls it after fork to import
    the app (gunicorn's default, without --preload). Returns (loader, read end
    of the error pipe).

    A worker that cannot import the app writes its one-line error into the
    pipe and exits with the boot-failure status, on which the master stops
    the other workers and returns; the caller then prints the first line (one
    line, however many workers failed)."""
    errors_r, errors_w = os.pipe()

    def load_in_worker():
        try:
            return load_app(spec, debug)
        except AppImportError as e:
            os.set_blocking(errors_w, False)  # a full pipe already holds a line
            try:
                os.write(errors_w, f"anvil: error: {e}\n".encode()[:4096])
            except OSError:
                pass
            os._exit(_WORKER_BOOT_FAILURE)

    return load_in_worker, errors_r


def first_line(fd):
    os.set_blocking(fd, False)
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        data = b""
    return data.decode("utf-8", "replace").partition("\n")[0]


def _workers(options):
    try:
        return int(options.get("workers", 1))
    except (TypeError, ValueError):
        return 1  # the server rejects it, with its own message


def main(argv=None):
    try:
        from anvil import _core
    except ImportError as e:
        if "--version" in (sys.argv[1:] if argv is None else argv):
            sys.stdout.write(version_text(None))
            return 0
        sys.stderr.write(f"anvil: error: the _core extension is not built for this interpreter ({e})\n")
        return 2
    parser = build_parser(_core.option_table())
    given = vars(parser.parse_args(argv))
    if given.pop("version", False):
        sys.stdout.write(version_text(_core))
        return 0
    try:
        options = read_config(given.pop("config"), parser) if "config" in given else {}
        options.update(given)
        # PEP 3333 deployments name the mount point in the server's
        # environment (gunicorn reads SCRIPT_NAME too); --root-path wins.
        if "root_path" not in options and os.environ.get("SCRIPT_NAME"):
            options["root_path"] = os.environ["SCRIPT_NAME"]
        spec = options.pop("app", None)
        preload = options.pop("preload", False)
        add_code_paths(options.pop("chdir", None), options.pop("pythonpath", None))
        if options.get("native") and spec:
            raise UsageError("give either MODULE:CALLABLE or --native, not both")
        if not options.get("native") and not spec:
            raise UsageError("the MODULE:CALLABLE of a WSGI app is required (see --help)")
        if spec:
            split_spec(spec)
    except UsageError as e:
        sys.stderr.write(f"anvil: error: {e}\n")
        return 2
    app, errors = None, None
    if spec:
        try:
            debug = options.get("log_level") == "debug"
            if preload or _workers(options) == 0:
                app = load_app(spec, debug)
            else:
                options["load_app"], errors = loader_for_workers(spec, debug)
        except AppImportError as e:
            sys.stderr.write(f"anvil: error: {e}\n")
            return 1
    try:
        rc = anvil._serve(app, **options)
    except (ValueError, TypeError) as e:
        sys.stderr.write(f"anvil: error: {e}\n")
        return 2
    except OSError as e:
        sys.stderr.write(f"anvil: error: cannot start: {e}\n")
        return 1
    if rc == _WORKER_BOOT_FAILURE:
        line = first_line(errors) if errors is not None else ""
        if line:
            sys.stderr.write(line + "\n")
        return 1
    return rc
