"""gunicorn settings for Vigia's web process: `gunicorn -c deploy/gunicorn.conf.py config.wsgi`.

Everything comes from the environment, like the Django settings (the README's configuration table).
Static files are served by WhiteNoise inside the app, so no separate file server is needed.
"""

import os


def _flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


bind = [address.strip() for address in os.environ.get("VIGIA_BIND", "127.0.0.1:8000").split(",") if address.strip()]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = 30  # a worker silent this long is killed and replaced (no dashboard request takes that long)
graceful_timeout = 30  # on SIGTERM/HUP, in-flight requests get this long to finish
keepalive = 5
# Replace each worker now and then, so a slow leak cannot grow without bound; jitter avoids all at once.
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"  # stdout: journald, Docker or the Procfile runner collects it
errorlog = "-"
# X-Forwarded-Proto (is the client on HTTPS?) is believed only from our own proxy, and only when
# VIGIA_BEHIND_PROXY=1 declares one; otherwise a client could claim HTTPS itself.
forwarded_allow_ips = os.environ.get("VIGIA_PROXY_IPS", "127.0.0.1,::1") if _flag("VIGIA_BEHIND_PROXY") else ""
# gunicorn's runtime control socket defaults to one path per user, which two instances on one host
# would share; it is off unless a path is given.
control_socket = os.environ.get("VIGIA_GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket
