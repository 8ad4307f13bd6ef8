"""The web process's entry point: `gunicorn -c deploy/gunicorn.conf.py config.wsgi` (static files included:
WhiteNoise's middleware serves them, see config/settings.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
