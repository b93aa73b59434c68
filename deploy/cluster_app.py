"""The app `make cluster` serves on every host: it answers with the host's
name (ANVIL_CLUSTER_HOST, the network namespace it runs in); /client answers
with the client as the app sees it (REMOTE_ADDR and wsgi.url_scheme, set from
nginx's X-Forwarded-* fields when anvil trusts nginx: --forwarded-allow-ips)."""

import os

NAME = os.environ.get("ANVIL_CLUSTER_HOST", "unnamed").encode() + b"\n"


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/client":
        body = f"{environ['REMOTE_ADDR']} {environ['wsgi.url_scheme']}\n".encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(NAME)))])
    return [NAME]
