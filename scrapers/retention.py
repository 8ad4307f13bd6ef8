"""Item history the daily "Prune history" job may delete (registered with scheduler.shared.retention).

An item's current version lives on the Item itself and is never pruned; its revisions (the versions it
replaced) go after VIGIA_RETAIN_ITEM_HISTORY_DAYS, except the latest: it says what the item said before
its last change, and the next change dates itself from it (scrapers.sources.checks._revise).
"""

from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet

from scheduler.shared import retention
from scrapers.models import ItemRevision


def prunable_revisions(cutoff: datetime) -> QuerySet[ItemRevision]:
    newer = ItemRevision.objects.filter(item=OuterRef("item")).filter(
        Q(replaced_at__gt=OuterRef("replaced_at")) | Q(replaced_at=OuterRef("replaced_at"), pk__gt=OuterRef("pk"))
    )
    return ItemRevision.objects.filter(Exists(newer), replaced_at__lt=cutoff)


retention.register("item_revisions", "VIGIA_RETAIN_ITEM_HISTORY_DAYS", prunable_revisions)
