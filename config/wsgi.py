"""The web process's entry point: `gunicorn -c deploy/gunicorn.conf.py config.wsgi` (static files included:
WhiteNoise's middleware serves them, see config/settings.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from config.settle import settle  # noqa: E402  (after Django is set up)

settle()

# The hooks every live process runs (the system watchdog, scheduler.everywhere), in a thread of each web
# process: gunicorn's workers (the app is loaded after the fork), runserver's serving child.
from scheduler import everywhere  # noqa: E402  (after Django is set up)

everywhere.start_thread()
