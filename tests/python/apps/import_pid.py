"""Which process imported the app, and which one answers: `--preload` tests."""

import os

IMPORTED_IN = os.getpid()


def app(environ, start_response):
    body = f"{IMPORTED_IN} {os.getpid()}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
