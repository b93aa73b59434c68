"""Answers with the module and name of wsgi.input's type: which WSGI path built environ."""


def app(environ, start_response):
    t = type(environ["wsgi.input"])
    body = f"{t.__module__}.{t.__qualname__}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
