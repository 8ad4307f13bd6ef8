"""/healthz: is this deployment able to do its work? For load balancers, monitors and Kubernetes probes.

    /healthz              readiness of the whole system: database, scheduler leader, worker clusters, queue,
                          and dispatch advancing (no enabled job overdue too long)
    /healthz?probe=db     the database only (a web pod's readiness: a scheduler outage should not also
                          take the dashboard that shows it off the load balancer)
    /healthz?probe=live   the process answers; touches nothing (a liveness probe)

200 when every check passes, 503 otherwise; the JSON body says which check failed. It never raises: a
failing check reports its error's class name only (a database error's message can carry its address).

The engine's figures (leader, clusters, queue, dispatch) are scheduler.health's, which the system watchdog
(channels_app.watchdog) reads too.
"""

import time
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from scheduler.health import check_clusters, check_dispatch, check_queue, check_scheduler


def check_database() -> dict[str, Any]:
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "latency_ms": round((time.monotonic() - started) * 1000, 1)}


def _safely(check: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    try:
        return check(*args)
    except Exception as exc:  # noqa: BLE001 - a health check reports failures, it does not raise them
        return {"ok": False, "error": type(exc).__name__}


def report(probe: str = "") -> tuple[bool, dict[str, dict[str, Any]]]:
    """(healthy, checks) for the probe asked for."""
    if probe == "live":
        return True, {}
    checks = {"database": _safely(check_database)}
    if probe != "db" and checks["database"]["ok"]:  # the others read the database too
        now = timezone.now()
        checks["scheduler"] = _safely(check_scheduler, now)
        checks["clusters"] = _safely(check_clusters, now)
        checks["queue"] = _safely(check_queue, now)
        checks["dispatch"] = _safely(check_dispatch, now)
    return all(check["ok"] for check in checks.values()), checks


@login_not_required  # probes have no session
@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, checks = report(request.GET.get("probe", ""))
    body = {"status": "ok" if healthy else "fail", "checks": checks}
    return JsonResponse(body, status=200 if healthy else 503)
