"""The items feed (keyset pages, title search, source filter) and an item's page with its revisions' diffs."""

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from scrapers.models import Item, ItemRevision
from scrapers.sources import diffs
from tests.loopback.organizer import make_source

pytestmark = pytest.mark.django_db

XSS = "<img src=x onerror=alert(1)>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


def source(name="Organizer"):
    return make_source("http://127.0.0.1:9/tarefas", name=name)


def item(owner, key, title="", **fields):
    return Item.objects.create(source=owner, key=key, title=title, content_hash="h", **fields)


def test_anonymous_visitors_are_sent_to_the_login(client):
    for url in [reverse("scrapers:items"), reverse("scrapers:item", args=[1])]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response.url


def test_the_feed_is_newest_first_across_sources_and_escapes_titles(viewer_client):
    first, second = source("First"), source("Second")
    item(first, "1", "Older task")
    item(second, "2", XSS, url="javascript:alert(1)")
    response = viewer_client.get(reverse("scrapers:items"))
    assert response.status_code == 200
    assert [row.key for row in response.context["page"]] == ["2", "1"]
    text = response.content.decode()
    assert ESCAPED in text and XSS not in text
    assert "javascript:" not in text  # a scraped link that is not http(s) is never a link
    assert "Second" in text and "First" in text


def test_the_feed_searches_titles_and_filters_by_source(viewer_client):
    first, second = source("First"), source("Second")
    item(first, "1", "Audiência marcada")
    item(first, "2", "Prazo aberto")
    item(second, "3", "Outra audiência")
    url = reverse("scrapers:items")
    assert [row.key for row in viewer_client.get(url, {"q": "audiência"}).context["page"]] == ["3", "1"]
    assert [row.key for row in viewer_client.get(url, {"source": first.pk}).context["page"]] == ["2", "1"]
    assert [row.key for row in viewer_client.get(url, {"q": "prazo", "source": second.pk}).context["page"]] == []
    assert len(viewer_client.get(url, {"source": "junk"}).context["page"]) == 3  # an unparsable filter is ignored


def test_the_feed_pages_on_with_a_cursor(viewer_client):
    owner = source()
    rows = [item(owner, str(number), f"T{number}") for number in range(55)]
    first = viewer_client.get(reverse("scrapers:items"), {"q": "T"})
    assert len(first.context["page"]) == 50
    assert f"before={rows[5].pk}" in first.content.decode() and "q=T" in first.content.decode()
    second = viewer_client.get(reverse("scrapers:items"), {"q": "T", "before": rows[5].pk})
    assert [row.pk for row in second.context["page"]] == [row.pk for row in rows[4::-1]]


def test_the_feed_costs_a_bounded_number_of_queries(viewer_client, django_assert_max_num_queries):
    owners = [source(f"S{number}") for number in range(3)]
    for number in range(30):
        item(owners[number % 3], str(number), f"T{number}")
    with django_assert_max_num_queries(5):  # session, user, role, the page with its sources, the source filter
        response = viewer_client.get(reverse("scrapers:items"))
    assert response.status_code == 200 and len(response.context["page"]) == 30


def test_the_htmx_feed_returns_only_the_rows(viewer_client):
    item(source(), "1", "A")
    response = viewer_client.get(reverse("scrapers:items"), HTTP_HX_REQUEST="true")
    text = response.content.decode()
    assert 'id="item-rows"' in text and "<html" not in text


def test_an_item_page_shows_its_fields_escaped(viewer_client):
    owner = source()
    found = item(owner, "k1", XSS, url="https://example.org/t/1", body="<script>alert(2)</script>", raw={"x": XSS})
    response = viewer_client.get(reverse("scrapers:item", args=[found.pk]))
    assert response.status_code == 200
    text = response.content.decode()
    assert ESCAPED in text and XSS not in text and "<script>alert(2)" not in text
    assert 'href="https://example.org/t/1"' in text
    assert "This item has not changed since it was first seen." in text


def test_an_item_page_diffs_consecutive_revisions(viewer_client, django_assert_max_num_queries):
    owner = source()
    now = timezone.now()
    found = item(owner, "k1", "Audiência dia 12", body="Sala 3", revisions_count=2)
    ItemRevision.objects.create(
        item=found, title="Audiência dia 10", body="Sala 3", content_hash="a",
        valid_from=now - timedelta(days=2), replaced_at=now - timedelta(days=1),
    )  # fmt: skip
    ItemRevision.objects.create(
        item=found, title="Audiência dia 11", body=XSS, content_hash="b",
        valid_from=now - timedelta(days=1), replaced_at=now,
    )  # fmt: skip
    with django_assert_max_num_queries(5):  # session, user, role, item with source, revisions
        response = viewer_client.get(reverse("scrapers:item", args=[found.pk]))
    text = response.content.decode()
    assert text.count('class="diff-step"') == 2
    assert "<del>10</del><ins>11</ins>" in text and "<del>11</del><ins>12</ins>" in text
    assert f"<del>{ESCAPED}</del><ins>Sala 3</ins>" in text and f"<ins>{ESCAPED}</ins>" in text
    assert XSS not in text


def test_an_unknown_item_is_404(viewer_client):
    response = viewer_client.get(reverse("scrapers:item", args=[999]))
    assert response.status_code == 404


def test_diff_text_keeps_whitespace_and_marks_words():
    assert diffs.diff_text("a b  c", "a x  c") == [
        ("equal", "a "),
        ("delete", "b  "),
        ("insert", "x  "),
        ("equal", "c"),
    ]
    assert diffs.diff_text("", "new") == [("insert", "new")]
    assert diffs.diff_text("same", "same") == [("equal", "same")]


def test_a_title_search_no_index_answers_scans_a_bounded_window_per_page(viewer_client, monkeypatch):
    # "ch" (in "match", not in "other"): too short for PostgreSQL's trigram index, so both databases use
    # the window here; longer searches on SQLite take the same path.
    from scrapers.sources import views as views_sources

    monkeypatch.setattr(views_sources, "SEARCH_WINDOW", 10)
    owner = source()
    rows = [item(owner, str(number), "match" if number in (2, 25) else "other") for number in range(30)]
    url = reverse("scrapers:items")
    first = viewer_client.get(url, {"q": "ch"})
    assert [row.key for row in first.context["page"]] == ["25"]  # only the newest 10 ids were scanned
    floor = rows[-1].pk + 1 - 10
    assert first.context["page"].next_before == floor and f"Searched back to item #{floor}" in first.content.decode()
    second = viewer_client.get(url, {"q": "ch", "before": floor})
    assert [row.key for row in second.context["page"]] == []
    third = viewer_client.get(url, {"q": "ch", "before": floor - 10})
    assert [row.key for row in third.context["page"]] == ["2"]
    assert third.context["page"].next_before is None  # the oldest item was reached
    if connection.vendor == "sqlite":  # a longer word too: SQLite has no index for it
        longer = viewer_client.get(url, {"q": "match"})
        assert [row.key for row in longer.context["page"]] == ["25"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram index is PostgreSQL's")
def test_a_title_search_on_postgresql_covers_the_whole_table_through_the_trigram_index(viewer_client, monkeypatch):
    from scrapers.sources import views as views_sources

    monkeypatch.setattr(views_sources, "SEARCH_WINDOW", 10)
    owner = source()
    for number in range(30):
        item(owner, str(number), "Encontre a LÂMPADA" if number in (2, 25) else "other")
    page = viewer_client.get(reverse("scrapers:items"), {"q": "lâmpada"})  # any case, accents as typed
    assert [row.key for row in page.context["page"]] == ["25", "2"]
    assert page.context["page"].next_before is None and "Searched back" not in page.content.decode()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # 30 rows: the planner would rather read them all
        sql, params = Item.objects.filter(title__icontains="lâmpada").order_by("-pk").query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "item_title_trgm" in plan, plan
