"""The app `make cluster` serves on every host: it answers with the host's
name (ANVIL_CLUSTER_HOST, the network namespace it runs in)."""

import os

NAME = os.environ.get("ANVIL_CLUSTER_HOST", "unnamed").encode() + b"\n"


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(NAME)))])
    return [NAME]
