"""Answers with the module and name of wsgi.input's type, then "cffi" when the
cffi path serves (it imports anvil._cffiwsgi; the others never do), else "core":
which WSGI path built environ."""

import sys


def app(environ, start_response):
    t = type(environ["wsgi.input"])
    via = "cffi" if "anvil._cffiwsgi" in sys.modules else "core"
    body = f"{t.__module__}.{t.__qualname__} {via}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
