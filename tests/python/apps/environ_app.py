"""Apps that echo the environ they were given, wrapped in wsgiref.validate with
warnings turned into errors: a server that breaks PEP 3333 gets a 500 (the
validator's AssertionError or WSGIWarning), not a 200."""

import json
import warnings
from wsgiref.validate import validator

warnings.simplefilter("error")

_WSGI_KEYS = ("wsgi.version", "wsgi.url_scheme", "wsgi.multithread", "wsgi.multiprocess",
              "wsgi.run_once", "wsgi.input_terminated")


def _describe(environ):
    out = {k: v for k, v in environ.items() if isinstance(v, str)}
    for key in _WSGI_KEYS:
        if key in environ:
            value = environ[key]
            out[key] = list(value) if isinstance(value, tuple) else value
    out["types"] = {k: type(v).__name__ for k, v in environ.items()}
    out["has_file_wrapper"] = callable(environ.get("wsgi.file_wrapper"))
    errors = environ["wsgi.errors"]
    out["errors_api"] = all(callable(getattr(errors, m, None)) for m in ("write", "writelines", "flush"))
    length = environ.get("CONTENT_LENGTH")
    inp = environ["wsgi.input"]
    if length:
        body = inp.read(int(length))
    else:
        # Chunked or no body: read in pieces until the end (wsgi.input_terminated).
        parts = []
        for _ in range(100000):
            piece = inp.read(65536)
            if not piece:
                break
            parts.append(piece)
        body = b"".join(parts)
    out["body"] = body.decode("latin-1")
    return out


def _raw(environ, start_response):
    data = json.dumps(_describe(environ)).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


app = validator(_raw)
