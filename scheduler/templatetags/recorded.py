"""Stored English shown in the reader's language: `{{ run.error|recorded }}`, a message the engine recorded
(scheduler.shared.recorded), `{{ queue|queue_label }}`, a queue's name as the job form labels it, and
`{{ job.kind|kind_label:"job kind" }}`, a kind's label."""

from django import template

from scheduler.models import Job
from scheduler.shared import recorded as messages
from scheduler.shared.kind_registry import REGISTRIES

register = template.Library()


@register.filter
def recorded(text: object) -> object:
    return messages.translated(text) if isinstance(text, str) else text


@register.filter
def kind_label(name: object, registry: str) -> object:
    """`{{ job.kind|kind_label:"job kind" }}`: a kind in words (scheduler.shared.kind_registry.REGISTRIES)."""
    found = REGISTRIES.get(registry)
    return found.label(name) if found is not None and isinstance(name, str) else name


@register.filter
def queue_label(name: object) -> object:
    return Job.Queue(name).label if name in Job.Queue.values else name
