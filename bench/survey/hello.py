"""The survey's hello app (issue 5): the same 13-byte body as anvil-native's
`hello` and bench/server/hello.py, Content-Length set, served by every server."""

BODY = b"Hello, World!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", list(HEADERS))
    return [BODY]


application = app
