"""The soak test's app: hello on every path, an echo of the body on /echo, and
a 1 MiB answer on /big (for clients that reset in the middle of a response)."""

HELLO = b"Hello, World!"
BIG = b"x" * (1 << 20)


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/echo":
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/big":
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(BIG)))])
        return [BIG]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))])
    return [HELLO]
