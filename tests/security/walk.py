"""Every URL pattern of the site as a concrete path, by walking django.urls' resolver: a new page is
covered by the security tests as soon as it is routed. Path parameters name real objects (tests.security.world),
so a detail page that leaked would have something to leak."""

import re
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from channels_app.models import Message
from scheduler.models import Job
from tests.security.world import admin_object, any_user

PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>[^)]*)\)")


@dataclass(frozen=True)
class Page:
    route: str  # "jobs/<int:pk>/", as Django spells it
    path: str  # "/jobs/12/"
    name: str


def patterns(resolver=None, prefix=""):
    """(full route, URLPattern) for every pattern, depth first, in resolution order."""
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from patterns(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def pages(world):
    """Each routed page once, with its parameters filled from `world`."""
    seen = {}
    for route, entry in patterns():
        path = "/" + _fill(route.replace("^", "").replace("$", ""), world)
        assert resolve(path), path  # raises Resolver404 if a filled-in path no longer matches its pattern
        seen.setdefault(path, Page(route, path, entry.name or ""))
    return list(seen.values())


def _fill(route, world):
    route = GROUP.sub(lambda m: _group_value(m["body"]), route)  # admin's regex patterns
    return PARAM.sub(lambda m: str(_param_value(route[: m.start()], m["name"], m["converter"], world)), route)


def _group_value(body):
    first = body.split("|")[0]
    return first if re.fullmatch(r"[\w-]+", first) else "no-such-page/"


def _param_value(before, name, converter, world):
    """A real object's id for the parameter, chosen by the route's text before it."""
    segments = [s for s in before.split("/") if s]
    if segments[:2] == ["admin", "r"]:  # "view on site": content type, then object
        return ContentType.objects.get_for_model(Job).pk if name == "content_type_id" else world.pk_for("jobs")
    if segments[:1] == ["admin"] and len(segments) >= 3:
        if name == "id":  # admin/auth/user/<id>/password/
            return any_user().pk
        found = admin_object(segments[1], segments[2])
        return found.pk if found is not None else 1
    if segments[:2] == ["api", "v1"] and name == "message_id":
        return Message.objects.order_by("pk").first().pk
    if segments[:2] == ["api", "v1"] and "by-key" in segments:  # /jobs/by-key/<service>/<key>: the job's pair
        job = Job.objects.exclude(external_key=None).order_by("pk").first() or world.objects["jobs"]
        return (job.external_service if name == "service" else job.external_key) or "crm"
    if segments == ["kinds"] and name == "endpoint":  # config.kinds: the settings block of a kind
        return "channels"
    prefix = segments[-1] if segments else ""
    if prefix in world.objects:
        return world.pk_for(prefix)
    raise AssertionError(
        f"Route {before}<{converter}:{name}>: add an object for {prefix!r} to tests/security/world.py so "
        "the security tests request this page with real data behind it."
    )
