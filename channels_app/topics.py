"""Topic choices for subscriptions, from registered providers, so this app never imports a domain app.

A provider is a function returning [(topic, label), ...]; the domain apps register theirs when ready.
"""

from collections.abc import Callable, Iterable

Provider = Callable[[], Iterable[tuple[str, str]]]

_providers: list[Provider] = []


def register(provider: Provider) -> Provider:
    if provider not in _providers:
        _providers.append(provider)
    return provider


def choices() -> list[tuple[str, str]]:
    found = [
        ("*", "Everything"),
        ("sources:broken", "Any source broken or recovered"),
        ("people:expired", "Monitored people expired"),
        ("job:*:failed", "Any job failed"),
    ]
    for provider in _providers:
        found.extend(provider())
    return found


@register
def _jobs() -> list[tuple[str, str]]:
    from scheduler.models import Job

    jobs = Job.objects.exclude(kind__in=["check_person", "check_source"]).order_by("name")  # those have topics
    return [(f"job:{pk}:failed", f"Job failed: {name}") for pk, name in jobs.values_list("pk", "name")[:500]]
