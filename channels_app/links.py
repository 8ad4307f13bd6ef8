"""Links to the dashboard inside messages: absolute when the site's address is known (VIGIA_BASE_URL), else the
path (a phone cannot open a path, so set it in production)."""

from django.conf import settings


def absolute(path: str | None) -> str:
    """A dashboard path as a link: absolute with settings.VIGIA_BASE_URL when it is set."""
    if not path:
        return ""
    base = str(settings.VIGIA_BASE_URL or "").rstrip("/")
    return f"{base}{path}" if base and path.startswith("/") else path
