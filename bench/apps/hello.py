"""The hello app: 13 bytes, Content-Length set; the same body as anvil-native's
`hello` and nginx's `return 200`. The server benchmark and the survey serve it,
and it is the floor of the apps benchmark (bench/apps/run.py)."""

BODY = b"Hello, World!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", list(HEADERS))
    return [BODY]


application = app
