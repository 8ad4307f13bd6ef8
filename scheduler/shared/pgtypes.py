"""Statuses and other choices as psycopg parameters, at the cost of a dictionary hit.

psycopg picks a parameter's dumper by its exact class; for a subclass (every TextChoices enum, such as
Run.Status) it walks the MRO on every parameter, building a dotted name at each step, and never caches
the answer. Each status in a filter or an update paid that: 17 % of a worker's CPU on a no-op run in a
profile. Registering every TextChoices and IntegerChoices class with the dumper of its base type makes
them as cheap as a plain str or int, and dumps them exactly the same way.
"""

from django.conf import settings
from django.db import models


def register_choices() -> None:
    if not any("postgresql" in db["ENGINE"] for db in settings.DATABASES.values()):
        return  # nothing to speed up, and no reason to load psycopg (its libraries) into every process
    try:
        import psycopg
        from psycopg.adapt import PyFormat
    except ImportError:  # SQLite only
        return
    for base, choices in ((str, models.TextChoices), (int, models.IntegerChoices)):
        # Binary, then text, then what a %s placeholder (AUTO) uses for the base type, so the last
        # registration (the one AUTO keeps) is the base type's own.
        dumpers = [psycopg.adapters.get_dumper(base, fmt) for fmt in (PyFormat.BINARY, PyFormat.TEXT, PyFormat.AUTO)]
        for cls in _subclasses(choices):
            for dumper in dumpers:
                psycopg.adapters.register_dumper(cls, dumper)


def _subclasses(cls: type[object]) -> list[type[object]]:
    found: list[type[object]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found
