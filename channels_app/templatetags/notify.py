"""`{% notify_panel source.topic %}` (or `{% notify_panel "job" job.pk %}`): the Notify panel of an object's page,
channels_app.views_notify's. `{% load notify %}` first."""

from typing import Any

from django import template

from channels_app import digests, topics, views_notify
from channels_app.models import Subscription

register = template.Library()


@register.inclusion_tag(views_notify.TEMPLATE, takes_context=True)
def notify_panel(context: template.Context, topic: str, pk: Any = None) -> dict[str, object]:
    if pk is not None:  # a family and an id: the object's topic
        topic = topics.topic_for(topic, pk)
    return views_notify.panel(topic, context.get("user"))


@register.filter
def delivery_words(subscription: Subscription) -> str:
    """ "daily digest at 08:00", "digest every 6 h"; "" for a subscriber told at once."""
    return digests.in_words(subscription)
