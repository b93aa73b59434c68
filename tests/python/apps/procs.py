"""Apps for the process-model tests: who answered, and a slow request."""

import os
import time


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/slow":
        # The test waits for this line before it signals the master.
        environ["wsgi.errors"].write(f"slow request started in {os.getpid()}\n")
        environ["wsgi.errors"].flush()
        time.sleep(2.0)
        body = b"slow done"
    else:
        body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
