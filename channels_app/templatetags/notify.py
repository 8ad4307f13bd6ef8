"""`{% notify_panel source.topic %}` (or `{% notify_panel "job" job.pk %}`): the Notify panel of an object's page,
channels_app.views_notify's. `{% load notify %}` first."""

from typing import Any

from django import template

from channels_app import topics, views_notify

register = template.Library()


@register.inclusion_tag(views_notify.TEMPLATE, takes_context=True)
def notify_panel(context: template.Context, topic: str, pk: Any = None) -> dict[str, object]:
    if pk is not None:  # a family and an id: the object's topic
        topic = topics.topic_for(topic, pk)
    return views_notify.panel(topic, context.get("user"))
