"""Delivery history the daily "Prune history" job may delete (registered with scheduler.shared.retention).

Deliveries go once final (sent, failed, dead, cancelled); pending, sending and retrying ones stay whatever
their age. An event goes after its deliveries, once none remains. Both after VIGIA_RETAIN_DELIVERIES_DAYS, as do
the API's finished callbacks (sent, failed, dead): they are the same kind of record. Attachments (the files
fetched for messages) go VIGIA_RETAIN_ATTACHMENT_DAYS after a message last used them.
"""

from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from channels_app.models import Attachment, Callback, Delivery, Event
from scheduler.shared import retention


def prunable_deliveries(cutoff: datetime) -> QuerySet[Delivery]:
    return Delivery.objects.filter(created_at__lt=cutoff, status__in=Delivery.FINAL)


def prunable_events(cutoff: datetime) -> QuerySet[Event]:
    return Event.objects.filter(~Exists(Delivery.objects.filter(event=OuterRef("pk"))), created_at__lt=cutoff)


def prunable_callbacks(cutoff: datetime) -> QuerySet[Callback]:
    return Callback.objects.filter(created_at__lt=cutoff, status__in=Callback.FINAL)


def prunable_attachments(cutoff: datetime) -> QuerySet[Attachment]:
    # Not one being fetched right now (its worker is about to use it); one whose fetch was abandoned (its lease
    # ran out: the worker died) may go.
    fetching = Q(fetching_until__isnull=False, fetching_until__gte=timezone.now())
    return Attachment.objects.filter(last_used_at__lt=cutoff).exclude(fetching)


# Registration order is run order: deliveries first, so their events are free to go in the same run.
retention.register("deliveries", "VIGIA_RETAIN_DELIVERIES_DAYS", prunable_deliveries)
retention.register("events", "VIGIA_RETAIN_DELIVERIES_DAYS", prunable_events)
retention.register("callbacks", "VIGIA_RETAIN_DELIVERIES_DAYS", prunable_callbacks)
retention.register("attachments", "VIGIA_RETAIN_ATTACHMENT_DAYS", prunable_attachments)
