"""Starts one of the Python servers that have no command line of their own,
serving the WSGI app MODULE:CALLABLE on 127.0.0.1:PORT, in this one process:

    python3 launch.py wsgiref|tornado|gevent|eventlet|cheroot|hypercorn PORT MODULE:CALLABLE

Each server is configured as its documentation shows for a plain deployment,
with the per-request access log off (the C servers run without one too).
Readiness is a successful connect (the driver polls); SIGTERM ends it.
"""

import importlib
import os
import signal
import sys

HOST = "127.0.0.1"


def serve_wsgiref(port, app):
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):  # one stderr line per request otherwise
            pass

    make_server(HOST, port, app, handler_class=QuietHandler).serve_forever()


def serve_tornado(port, app):
    # tornado 6.2: WSGIContainer calls the app on the IOLoop thread, where an
    # asyncio loop is running, and Django (3.0+) refuses ORM calls there with
    # SynchronousOnlyOperation. The app call blocks the loop, so requests never
    # interleave and Django's worry (one connection shared by coroutines) cannot
    # arise: its documented switch turns the check off. (Tornado 6.3 added
    # WSGIContainer(executor=...) for this; Debian 12 ships 6.2.)
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from tornado.httpserver import HTTPServer
    from tornado.ioloop import IOLoop
    from tornado.wsgi import WSGIContainer

    HTTPServer(WSGIContainer(app)).listen(port, HOST)
    IOLoop.current().start()


def serve_gevent(port, app):
    from gevent.pywsgi import WSGIServer

    WSGIServer((HOST, port), app, log=None).serve_forever()


def serve_eventlet(port, app):
    import eventlet
    import eventlet.wsgi

    eventlet.wsgi.server(eventlet.listen((HOST, port)), app, log_output=False)


def serve_cheroot(port, app):
    from cheroot import wsgi

    server = wsgi.Server((HOST, port), app)  # default pool: 10 threads
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    server.start()


def serve_hypercorn(port, app):
    # hypercorn 0.13 serves ASGI apps only; its own AsyncioWSGIMiddleware runs
    # the WSGI app in the loop's default thread pool. One worker, in this
    # process (what `hypercorn --workers 1` runs), asyncio loop, no access
    # log (its default); SIGTERM is a graceful stop.
    import asyncio

    from hypercorn.asyncio import serve
    from hypercorn.config import Config
    from hypercorn.middleware import AsyncioWSGIMiddleware

    config = Config()
    config.bind = [f"{HOST}:{port}"]
    config.accesslog = None
    asyncio.run(serve(AsyncioWSGIMiddleware(app), config))


SERVERS = {
    "wsgiref": serve_wsgiref,
    "tornado": serve_tornado,
    "gevent": serve_gevent,
    "eventlet": serve_eventlet,
    "cheroot": serve_cheroot,
    "hypercorn": serve_hypercorn,
}


def load(spec):
    """The callable named by "module:callable" (the module from sys.path)."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name or "application")


def main(argv):
    # The app comes from the working directory or PYTHONPATH, never from this
    # script's folder (whose modules must not shadow the standard library's).
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    if len(argv) != 4 or argv[1] not in SERVERS or not argv[2].isdigit():
        sys.stderr.write(f"usage: launch.py {'|'.join(SERVERS)} PORT MODULE:CALLABLE\n")
        return 2
    sys.path.insert(0, ".")  # the app's module from the working directory, as gunicorn does
    SERVERS[argv[1]](int(argv[2]), load(argv[3]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
