"""Django 3.2: the djsite project's WSGI application (djsite/)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djsite.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

app = get_wsgi_application()
