"""The app of the HTTP semantics suite (test_semantics.py): PATH_INFO picks what
it answers, so that the server's framing and environ can be checked against
the RFCs.

  /status/NNN/BODY   status NNN with a body made as BODY says:
                     list ([b"hello"]), empty-list ([]), generator (two
                     pieces), empty-generator, file (wsgi.file_wrapper over a
                     semantics_body.txt, 5 bytes: sendfile), bytesio (file_wrapper over
                     BytesIO: iterated); ?cl=N adds the app's Content-Length: N
  /header            the app sets the field named by ?name= to ?value=
  anything else      the environ's str values as JSON
"""

import io
import json
import os
from urllib.parse import parse_qs

BODY = b"hello"
_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "semantics_body.txt")


def _pieces():
    yield b"hel"
    yield b"lo"


def _nothing():
    return
    yield  # a generator that yields nothing


def _body(kind, environ):
    wrapper = environ["wsgi.file_wrapper"]
    if kind == "list":
        return [BODY]
    if kind == "empty-list":
        return []
    if kind == "generator":
        return _pieces()
    if kind == "empty-generator":
        return _nothing()
    if kind == "file":
        return wrapper(open(_FILE, "rb"))
    if kind == "bytesio":
        return wrapper(io.BytesIO(BODY))
    raise ValueError("unknown body kind: " + kind)


def app(environ, start_response):
    path = environ["PATH_INFO"]
    query = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    if path.startswith("/status/"):
        _, _, code, kind = path.split("/")
        headers = [("Content-Type", "text/plain")]
        if "cl" in query:
            headers.append(("Content-Length", query["cl"]))
        body = _body(kind, environ)
        start_response(code + " Status", headers)
        return body
    if path == "/header":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  (query["name"], query.get("value", ""))])
        return [b"ok"]
    data = json.dumps({k: v for k, v in environ.items() if isinstance(v, str)}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [data]
