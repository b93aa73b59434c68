"""The hello app: 13 bytes, Content-Length set; the same body as anvil-native's
`hello` and nginx's `return 200`. The server benchmark and the survey serve it,
and it is the floor of the apps benchmark (bench/apps/run.py). `asgi` is the
same response as an ASGI app: the survey serves it with uvicorn to measure
what uvicorn's WSGI adapter costs."""

BODY = b"Hello, World!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", list(HEADERS))
    return [BODY]


application = app


async def asgi(scope, receive, send):
    if scope["type"] != "http":  # no lifespan events: uvicorn runs with --lifespan off
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(k.lower().encode(), v.encode()) for k, v in HEADERS]})
    await send({"type": "http.response.body", "body": BODY})
