"""Settings for the test suite: the same as production, plus a throwaway secret and a file-backed SQLite test DB.

Process-level tests start real `scheduler` and `qcluster` processes; they must see the test database,
so SQLite's test database is a file (not in memory) and its path is exported for those processes.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")

from config.settings import *  # noqa: E402,F403
from config.settings import DATA_DIR, DATABASES  # noqa: E402

_test_name = os.environ.get("VIGIA_TEST_DB_NAME", "test_vigia")  # distinct names let test runs overlap
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"{_test_name}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": _test_name}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The shared per-host rate limit is exercised by its own tests; elsewhere it would only slow tests down.
VIGIA_HOST_RATE = 1000.0
VIGIA_API_RATE_PER_MINUTE = 0  # the API's rate limit likewise: its tests give their tokens a rate of their own
VIGIA_ALERT_GROUP_SECONDS = 0.0  # alerts go at once; the tests of grouping hold them themselves
VIGIA_SYSTEM_JOBS = False  # tests create the people cycle jobs themselves when they need them

# Outbound safety: the tests' loopback stand-ins are allowed explicitly. Exported, so every process the
# tests start (scheduler, qcluster, hammers, even those run with config.settings) allows them too.
_outbound = ["127.0.0.1", "localhost", "::1", *os.environ.get("VIGIA_OUTBOUND_ALLOW", "").split(",")]
VIGIA_OUTBOUND_ALLOW = [entry for entry in dict.fromkeys(part.strip() for part in _outbound) if entry]
os.environ["VIGIA_OUTBOUND_ALLOW"] = ",".join(VIGIA_OUTBOUND_ALLOW)

# --- Serving and web hardening: tests render pages without `collectstatic` first, so static files keep
# their plain names here (the gunicorn test collects into a temporary folder and uses the real storage).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = WHITENOISE_AUTOREFRESH = True  # WhiteNoise as in development: static/ itself, no STATIC_ROOT
