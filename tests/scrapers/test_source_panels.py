"""The source page's panels tell the truth and keep up: a 304 reads "unchanged since", the health line and the
last check's figures come from one record, and Check now refreshes the latest items too."""

import re

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import formats, timezone

from scheduler.execution import execute_run
from scheduler.models import Run
from scrapers.models import Source
from tests.loopback import organizer
from tests.loopback.organizer import page

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
ELEVEN = [(n, f"Tarefa {n}", "texto") for n in range(1, 12)]


def make_source(site):
    return organizer.make_source(site.url + "/tarefas")


def check_now(client, found):
    """Check now as the page does, then the run on a worker, then the status fragment's poll."""
    client.post(reverse("scrapers:source_check", args=[found.pk]), **HTMX)
    run = Run.objects.filter(job_id=found.job_id).order_by("-id").first()
    execute_run(run.pk)
    return run, client.get(reverse("scrapers:source_status", args=[found.pk]), **HTMX)


def shown(response):
    return re.sub(r"\s+", " ", response.content.decode())


def short(moment):
    return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")


def test_a_304_after_a_check_that_found_eleven_reads_unchanged_since_then(site, staff_client):
    site.respond("/tarefas", body=page(*ELEVEN), headers={"ETag": '"v1"'})
    site.respond("/tarefas", status=304, headers={"ETag": '"v1"'})
    found = make_source(site)
    check_now(staff_client, found)
    found.refresh_from_db()
    changed = found.last_changed_at
    assert found.last_item_count == 11 and changed is not None

    run, response = check_now(staff_client, found)
    run.refresh_from_db()
    assert run.result["status"] == "unchanged" and run.result["not_modified"] and run.result["items"] == 11
    for text in (shown(response), shown(staff_client.get(reverse("scrapers:source", args=[found.pk])))):
        assert f"Unchanged since {short(changed)} (11 items)" in text
        assert "0 found" not in text
        assert "11 found, 11 new, 0 updated" in text  # the first check's own row, below


def test_a_broken_source_shows_the_failing_checks_zero_and_error_and_the_last_success(site, staff_client):
    site.respond("/tarefas", body=page(*ELEVEN))
    site.respond("/tarefas", body="<html><body>fora do ar</body></html>", headers={"Content-Type": "text/html"})
    found = make_source(site)
    check_now(staff_client, found)
    found.refresh_from_db()
    success = found.last_success_at
    with override_settings(VIGIA_SOURCE_BROKEN_AFTER=1):
        _, response = check_now(staff_client, found)
    found.refresh_from_db()
    assert found.broken
    text = shown(response)
    last = text[text.index('id="source-last-check"') :]
    last = last[: last.index("</dd>")]
    assert "Failed: 0 items found." in last and "Selectors may be broken" in last
    assert "11 found" not in last and "Items found by the last check" not in text
    assert f'id="source-last-success">{short(success)}, 11 items</dd>' in text


def test_after_a_first_check_the_page_never_shows_no_last_check(site, staff_client):
    site.respond("/tarefas", body=page(*ELEVEN[:2]))
    found = make_source(site)
    before = shown(staff_client.get(reverse("scrapers:source", args=[found.pk])))
    assert "Not checked yet." in before
    _, response = check_now(staff_client, found)
    for text in (shown(response), shown(staff_client.get(reverse("scrapers:source", args=[found.pk])))):
        assert "Not checked yet." not in text and "Last check —" not in text
        assert "2 found, 2 new, 0 updated" in text


def test_after_check_now_the_items_panel_refreshes_with_the_new_item(site, staff_client):
    site.respond("/tarefas", body=page(*ELEVEN[:10]))
    site.respond("/tarefas", body=page((99, "Tarefa nova", "chegou"), *ELEVEN[:10]))
    found = make_source(site)
    check_now(staff_client, found)
    queued = staff_client.post(reverse("scrapers:source_check", args=[found.pk]), **HTMX)
    assert "HX-Trigger" not in queued  # a check in flight: the panels wait for its end
    run = Run.objects.filter(job_id=found.job_id).order_by("-id").first()
    assert f"#{run.pk}</a>" in queued.content.decode()  # the runs panel lists the run the status line names
    execute_run(run.pk)
    status = staff_client.get(reverse("scrapers:source_status", args=[found.pk]), **HTMX)
    assert status["HX-Trigger"] == "source-checked"
    page_text = shown(staff_client.get(reverse("scrapers:source", args=[found.pk])))
    assert 'hx-trigger="source-checked from:body"' in page_text
    latest = staff_client.get(reverse("scrapers:source_latest", args=[found.pk]), **HTMX)
    text = shown(latest)
    assert "Tarefa nova" in text and 'id="source-latest"' in text and "<html" not in text
    assert "11 found, 1 new, 0 updated" in shown(status)


def test_a_source_checked_before_outcomes_were_recorded_still_shows_its_last_check(staff_client):
    found = organizer.make_source("http://127.0.0.1:9/tarefas")
    now = timezone.now()
    Source.objects.filter(pk=found.pk).update(last_checked_at=now, last_success_at=now, last_item_count=4)
    text = shown(staff_client.get(reverse("scrapers:source", args=[found.pk])))
    assert "4 items found" in text and "Not checked yet." not in text


def test_the_job_pages_runs_panel_reloads_when_run_now_settles_and_lists_that_run(site, staff_client):
    site.respond("/tarefas", body=page(*ELEVEN[:1]))
    found = make_source(site)
    url = reverse("scheduler:job", args=[found.job_id])
    text = shown(staff_client.get(url))
    assert "No runs yet." in text
    assert 'hx-trigger="htmx:afterSettle from:#run-now"' in text and 'hx-select="#job-runs"' in text
    assert "{#" not in text
    run, _ = check_now(staff_client, found)
    # What the panel fetches (without HTMX headers: the whole page, of which it keeps #job-runs).
    text = shown(staff_client.get(url))
    panel = text[text.index('id="job-runs"') :]
    assert f"/runs/{run.pk}/" in panel and "No runs yet." not in panel
