"""Item history: old revisions go, the item itself and its latest revision always stay."""

from datetime import timedelta

import pytest
from django.utils import timezone

from scheduler.shared import retention
from scrapers.models import Item, ItemRevision, Source


@pytest.fixture
def source(db):
    return Source.objects.create(name="Prefeitura", kind="html", url="https://example.org/editais")


def item(source, key, first_seen_days):
    seen = timezone.now() - timedelta(days=first_seen_days)
    return Item.objects.create(source=source, key=key, title=f"{key} now", content_hash="h", first_seen=seen)


def revisions(row, *ages_in_days):
    """Versions `row` replaced, oldest first, each `age` days ago."""
    made = []
    for age in sorted(ages_in_days, reverse=True):
        when = timezone.now() - timedelta(days=age)
        made.append(
            ItemRevision.objects.create(
                item=row, title=f"{row.key} {age}d", content_hash=f"h{age}", valid_from=when, replaced_at=when
            )
        )
    return made


def prune(batch_size=100):
    result, failed = retention.prune_all(batch_size=batch_size, pause=0)
    assert failed == []
    return result


def test_old_revisions_go_except_each_items_latest(source, settings):
    settings.VIGIA_RETAIN_ITEM_HISTORY_DAYS = 180
    busy = item(source, "busy", 400)
    b400, b300, b200, b10 = revisions(busy, 400, 300, 200, 10)
    quiet = item(source, "quiet", 500)
    q500, q365 = revisions(quiet, 500, 365)  # changed last a year ago: that change stays visible
    fresh = item(source, "fresh", 100)
    fresh_revisions = revisions(fresh, 90, 30)

    result = prune()

    assert result["item_revisions"] == {"deleted": 4, "batches": 1, "days": 180}
    kept = {b10.pk, q365.pk, *(r.pk for r in fresh_revisions)}
    assert set(ItemRevision.objects.values_list("pk", flat=True)) == kept
    assert Item.objects.count() == 3  # current versions are not history
    assert not ItemRevision.objects.filter(pk__in=[b400.pk, b300.pk, b200.pk, q500.pk]).exists()


def test_batches_of_two(source, settings):
    settings.VIGIA_RETAIN_ITEM_HISTORY_DAYS = 1
    row = item(source, "k", 30)
    *old, latest = revisions(row, 10, 9, 8, 7, 6, 5)

    assert prune(batch_size=2)["item_revisions"] == {"deleted": 5, "batches": 3, "days": 1}
    assert list(ItemRevision.objects.values_list("pk", flat=True)) == [latest.pk]


def test_zero_keeps_item_history_forever(source, settings):
    settings.VIGIA_RETAIN_ITEM_HISTORY_DAYS = 0
    revisions(item(source, "k", 3000), 3000, 2000)
    assert prune()["item_revisions"] == {"days": 0}
    assert ItemRevision.objects.count() == 2
