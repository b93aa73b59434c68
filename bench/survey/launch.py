"""Starts one of the survey's Python servers that has no command line of its
own, serving hello:app on 127.0.0.1:PORT, in this one process:

    python3 launch.py wsgiref|tornado|gevent|eventlet|cheroot PORT

Each server is configured as its documentation shows for a plain deployment,
with the per-request access log off (the C servers run without one too).
Readiness is a successful connect (the driver polls); SIGTERM ends it.
"""

import signal
import sys

from hello import app

HOST = "127.0.0.1"


def serve_wsgiref(port):
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):  # one stderr line per request otherwise
            pass

    make_server(HOST, port, app, handler_class=QuietHandler).serve_forever()


def serve_tornado(port):
    # tornado 6.2: WSGIContainer calls the app on the IOLoop thread.
    from tornado.httpserver import HTTPServer
    from tornado.ioloop import IOLoop
    from tornado.wsgi import WSGIContainer

    HTTPServer(WSGIContainer(app)).listen(port, HOST)
    IOLoop.current().start()


def serve_gevent(port):
    from gevent.pywsgi import WSGIServer

    WSGIServer((HOST, port), app, log=None).serve_forever()


def serve_eventlet(port):
    import eventlet
    import eventlet.wsgi

    eventlet.wsgi.server(eventlet.listen((HOST, port)), app, log_output=False)


def serve_cheroot(port):
    from cheroot import wsgi

    server = wsgi.Server((HOST, port), app)  # default pool: 10 threads
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    server.start()


SERVERS = {
    "wsgiref": serve_wsgiref,
    "tornado": serve_tornado,
    "gevent": serve_gevent,
    "eventlet": serve_eventlet,
    "cheroot": serve_cheroot,
}


def main(argv):
    if len(argv) != 3 or argv[1] not in SERVERS or not argv[2].isdigit():
        sys.stderr.write(f"usage: launch.py {'|'.join(SERVERS)} PORT\n")
        return 2
    SERVERS[argv[1]](int(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
