"""What every server under test loads: `served:application` (uWSGI:
--wsgi-file served.py --callable application).

ANVIL_BENCH_APP names the app (hello, flask, django, falcon); with
ANVIL_APP_TIMING_DIR set, the app is wrapped by timing.wrap() so that its own
CPU time per request is recorded there. Only the named app's framework is
imported.
"""

import importlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import timing  # noqa: E402

MODULES = {"hello": "hello", "flask": "flask_app", "django": "django_app",
           "falcon": "falcon_app"}

app = importlib.import_module(MODULES[os.environ.get("ANVIL_BENCH_APP", "hello")]).app
_timing_dir = os.environ.get("ANVIL_APP_TIMING_DIR")
application = timing.wrap(app, _timing_dir) if _timing_dir else app
