"""Apps for the process-model tests: who answered, a slow request, a request
that never ends (it spins holding the GIL), and what the worker's environment
holds."""

import os
import subprocess
import time


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/slow":
        # The test waits for this line before it signals the master.
        environ["wsgi.errors"].write(f"slow request started in {os.getpid()}\n")
        environ["wsgi.errors"].flush()
        time.sleep(2.0)
        body = b"slow done"
    elif path == "/spin":
        # An app stuck in pure Python: the GIL is never released, so the
        # worker's loop cannot run until the master kills it (--worker-timeout).
        environ["wsgi.errors"].write(f"spinning in {os.getpid()}\n")
        environ["wsgi.errors"].flush()
        while True:
            pass
    elif path == "/env":
        # systemd's variables as the app sees them, and as a child process does.
        child = subprocess.run(["/usr/bin/env"], capture_output=True, text=True, check=True).stdout
        seen = [f"{name}={os.environ.get(name)}" for name in ("LISTEN_PID", "LISTEN_FDS")]
        seen += [line for line in child.splitlines() if line.startswith("LISTEN_")]
        body = " ".join(seen).encode()
    else:
        body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
