"""The sources pages: list with health, editor (save, Preview against a loopback page), check now, status."""

import re

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ

from scheduler.models import Job, Run
from scrapers.models import Item, Source
from tests.loopback.organizer import CONFIG, make_source, page

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
XSS = "<img src=x onerror=alert(1)>"


def form_data(address, **fields):
    data = {
        "name": "Tasks",
        "kind": "html",
        "url": address,
        "config": '{"items": "li.task", "title": "h3", "link": "a@href", "id": "@data-id"}',
        "method": "GET",
        "headers": "{}",
        "timeout_seconds": "5",
        "interval_seconds": "60",
        "cron": "",
        "timezone": "UTC",
        "enabled": "on",
    }
    data.update(fields)
    return data


def source(name="Organizer", **fields):
    return make_source("http://127.0.0.1:9/tarefas", name=name, **fields)


# --- list ---------------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login(client):
    for url in [
        reverse("scrapers:sources"),
        reverse("scrapers:source_new"),
        reverse("scrapers:source_status", args=[1]),
    ]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response.url
    response = client.post(reverse("scrapers:source_preview"), form_data("http://127.0.0.1:9/"))
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_the_list_shows_health_badges_and_item_counts(viewer_client):
    now = timezone.now()
    healthy = source("Healthy")
    Source.objects.filter(pk=healthy.pk).update(last_success_at=now, last_checked_at=now)
    failing = source("Failing")
    Source.objects.filter(pk=failing.pk).update(consecutive_failures=2, last_error="HTTP 503 from example.org")
    broken = source("Broken")
    Source.objects.filter(pk=broken.pk).update(
        consecutive_failures=5, broken=True, last_error="Selectors may be broken"
    )
    source("Fresh")
    Item.objects.create(source=healthy, key="a", title="A", content_hash="x")
    Item.objects.create(source=healthy, key="b", title="B", content_hash="y")

    response = viewer_client.get(reverse("scrapers:sources"))
    assert response.status_code == 200
    text = response.content.decode()
    assert 'class="badge healthy">ok<' in text
    assert 'class="badge retrying">failing<' in text and "HTTP 503 from example.org" in text
    assert 'class="badge broken">broken<' in text
    assert "not checked yet" in text
    assert f'?source={healthy.pk}">2<' in text


def test_the_list_filters_by_health_kind_and_name(viewer_client):
    source("Alpha")
    broken = source("Beta")
    Source.objects.filter(pk=broken.pk).update(broken=True, consecutive_failures=3)
    url = reverse("scrapers:sources")

    assert [s.name for s in viewer_client.get(url, {"health": "broken"}).context["page"]] == ["Beta"]
    assert [s.name for s in viewer_client.get(url, {"health": "new"}).context["page"]] == ["Alpha"]
    assert [s.name for s in viewer_client.get(url, {"q": "alp"}).context["page"]] == ["Alpha"]
    assert list(viewer_client.get(url, {"kind": "json"}).context["page"]) == []
    assert len(viewer_client.get(url, {"kind": "html"}).context["page"]) == 2


def test_the_list_costs_the_same_queries_for_30_sources(viewer_client, django_assert_max_num_queries):
    for number in range(30):
        made = source(f"Source {number}")
        Item.objects.create(source=made, key="k", title="t", content_hash="x")
    with django_assert_max_num_queries(4):  # session, user, the page (counts included)
        response = viewer_client.get(reverse("scrapers:sources"))
    assert response.status_code == 200 and len(response.context["page"]) == 30


# --- editor -------------------------------------------------------------------------------------------


def test_the_new_source_page_shows_the_form(viewer_client):
    response = viewer_client.get(reverse("scrapers:source_new"))
    assert response.status_code == 200
    assert 'name="config"' in response.content.decode()
    assert "Preview" not in response.content.decode()  # a viewer cannot change or fetch anything


def test_a_viewer_cannot_save_preview_or_check(viewer_client):
    made = source()
    assert viewer_client.post(reverse("scrapers:source_new"), form_data("http://127.0.0.1:9/")).status_code == 403
    assert viewer_client.post(reverse("scrapers:source", args=[made.pk]), form_data("http://x.org/")).status_code == 403
    assert viewer_client.post(reverse("scrapers:source_preview"), form_data("http://x.org/")).status_code == 403
    assert viewer_client.post(reverse("scrapers:source_check", args=[made.pk])).status_code == 403
    assert Source.objects.count() == 1 and not Run.objects.exists()


def test_a_source_is_created_with_its_job(staff_client):
    response = staff_client.post(reverse("scrapers:source_new"), form_data("https://example.org/tasks"))
    created = Source.objects.get()
    assert response.status_code == 302 and response.url == reverse("scrapers:source", args=[created.pk])
    assert created.job.kind == "check_source" and created.job.params == {"source_id": created.pk}
    assert created.config == {"items": "li.task", "title": "h3", "link": "a@href", "id": "@data-id"}


def test_an_htmx_save_redirects_the_browser(staff_client):
    response = staff_client.post(reverse("scrapers:source_new"), form_data("https://example.org/tasks"), **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("scrapers:source", args=[Source.objects.get().pk])


@pytest.mark.parametrize(
    "field, value",
    [
        ("url", "ftp://example.org/"),
        ("kind", "nope"),
        ("config", '{"items": "li[", "title": "h3"}'),
        ("config", "not json"),
        ("headers", '{"X": 1}'),
        ("interval_seconds", ""),
    ],
)
def test_bad_input_is_shown_on_its_field_and_nothing_is_saved(staff_client, field, value):
    response = staff_client.post(
        reverse("scrapers:source_new"), form_data("https://example.org/", **{field: value}), **HTMX
    )
    assert response.status_code == 200
    assert field in response.context["form"].errors
    text = response.content.decode()
    assert f'id="id_{field}_error"' in text
    assert 'id="source-editor"' in text and "<html" not in text  # only the editor fragment
    assert not Source.objects.exists() and not Job.objects.exists()


def test_an_edit_is_saved_and_keeps_the_job_in_step(staff_client):
    made = source()
    data = form_data("https://example.org/other", name="Renamed", interval_seconds="120")
    response = staff_client.post(reverse("scrapers:source", args=[made.pk]), data)
    assert response.status_code == 302
    made.refresh_from_db()
    assert made.name == "Renamed" and made.url == "https://example.org/other"
    assert made.job.interval_seconds == 120 and made.job.name.endswith("Renamed")


def test_a_bad_edit_keeps_what_was_typed_and_saves_nothing(staff_client):
    made = source()
    data = form_data("https://example.org/", name="Typed name", timeout_seconds="999")
    response = staff_client.post(reverse("scrapers:source", args=[made.pk]), data)
    assert response.status_code == 200
    text = response.content.decode()
    assert 'value="Typed name"' in text and 'id="id_timeout_seconds_error"' in text
    assert "<h1>Organizer</h1>" in text  # the page still shows the stored source
    made.refresh_from_db()
    assert made.name == "Organizer"


def test_the_source_page_shows_latest_items_and_escapes_them(viewer_client):
    made = source()
    Item.objects.create(source=made, key="x", title=XSS, content_hash="x")
    response = viewer_client.get(reverse("scrapers:source", args=[made.pk]))
    text = response.content.decode()
    assert response.status_code == 200
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and XSS not in text


def test_an_unknown_source_is_404(viewer_client, staff_client):
    assert viewer_client.get(reverse("scrapers:source", args=[999])).status_code == 404
    assert viewer_client.get(reverse("scrapers:source_status", args=[999])).status_code == 404


def test_an_unknown_source_is_404_for_staff_posts(staff_client):
    assert staff_client.post(reverse("scrapers:source_check", args=[999])).status_code == 404
    assert staff_client.post(reverse("scrapers:source", args=[999]), form_data("https://x.org/")).status_code == 404


def test_the_source_page_costs_a_bounded_number_of_queries(viewer_client, django_assert_max_num_queries):
    made = source()
    for number in range(30):
        Item.objects.create(source=made, key=str(number), title=f"T{number}", content_hash="x")
    with django_assert_max_num_queries(8):  # session, user, role, source, runs, items, its alert state
        response = viewer_client.get(reverse("scrapers:source", args=[made.pk]))
    assert response.status_code == 200 and len(response.context["latest"]) == 20


# --- preview ------------------------------------------------------------------------------------------


def test_preview_shows_the_extracted_items_escaped_and_saves_nothing(staff_client, site):
    site.respond("/tarefas", body=page((1, "Primeira", "a"), (2, "&lt;img src=x onerror=alert(1)&gt;", "b")))
    response = staff_client.post(reverse("scrapers:source_preview"), form_data(site.url + "/tarefas", name=""), **HTMX)
    assert response.status_code == 200
    text = response.content.decode()
    assert "Primeira" in text and "2 items extracted (HTTP 200" in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and XSS not in text
    assert f'href="{site.url}/t/1"' in text
    assert "name" not in response.context["form"].errors  # a preview needs no name yet
    assert not Source.objects.exists() and not Item.objects.exists()


def test_preview_reports_the_http_status(staff_client, site):
    site.respond("/gone", status=404)
    response = staff_client.post(reverse("scrapers:source_preview"), form_data(site.url + "/gone"), **HTMX)
    assert "The preview failed: HTTP 404 from 127.0.0.1" in response.content.decode()


@override_settings(VIGIA_FETCH_RETRIES=0)
def test_preview_reports_a_timeout(staff_client, site):
    site.respond("/slow", body=page((1, "A", "a")), delay=3)
    response = staff_client.post(
        reverse("scrapers:source_preview"), form_data(site.url + "/slow", timeout_seconds="0.5")
    )
    assert "timed out after 0.5 s" in response.content.decode()


def test_preview_shows_a_bad_selector_on_its_field(staff_client, site):
    data = form_data(site.url + "/tarefas", config='{"items": "li[["}')
    response = staff_client.post(reverse("scrapers:source_preview"), data, **HTMX)
    text = response.content.decode()
    assert "config" in response.context["form"].errors and 'id="id_config_error"' in text
    assert "Fix the highlighted fields to preview." in text
    assert not site.requests  # nothing was fetched


def test_preview_says_when_the_selectors_match_nothing(staff_client, site):
    site.respond("/tarefas", body=page((1, "A", "a")))
    data = form_data(site.url + "/tarefas", config='{"items": "li.nothing"}')
    response = staff_client.post(reverse("scrapers:source_preview"), data, **HTMX)
    assert "The selectors matched nothing on this page." in response.content.decode()


def test_preview_of_an_existing_source_without_htmx_renders_its_page(staff_client, site):
    site.respond("/tarefas", body=page((1, "A", "a")))
    made = make_source(site.url + "/tarefas")
    data = form_data(site.url + "/tarefas", source_id=str(made.pk), name="Changed")
    response = staff_client.post(reverse("scrapers:source_preview"), data)
    text = response.content.decode()
    assert response.status_code == 200 and "<h1>Organizer</h1>" in text and "1 item extracted" in text
    made.refresh_from_db()
    assert made.name == "Organizer"


# --- check now ----------------------------------------------------------------------------------------


def test_check_now_queues_a_run_of_the_sources_job_and_polls_it(staff_client):
    made = source()
    response = staff_client.post(reverse("scrapers:source_check", args=[made.pk]), **HTMX)
    run = Run.objects.get()
    assert run.job_id == made.job_id and run.trigger == Run.Trigger.MANUAL and run.status == Run.Status.QUEUED
    assert OrmQ.objects.count() == 1
    text = response.content.decode()
    assert f"run #{run.pk}" in text and 'hx-trigger="every 3s"' in text and "Checking…" in text

    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.SUCCEEDED, result={"status": "checked", "found": 3, "new": 3, "updated": 0}
    )
    response = staff_client.get(reverse("scrapers:source_status", args=[made.pk]), **HTMX)
    text = response.content.decode()
    assert "3 found, 3 new, 0 updated" in text and "every 3s" not in text and "<html" not in text


def test_the_status_fragment_opened_directly_redirects_to_the_page(viewer_client):
    made = source()
    response = viewer_client.get(reverse("scrapers:source_status", args=[made.pk]))
    assert response.status_code == 302 and response.url == reverse("scrapers:source", args=[made.pk])


def test_check_now_without_htmx_redirects_to_the_source(staff_client):
    made = source()
    response = staff_client.post(reverse("scrapers:source_check", args=[made.pk]))
    assert response.status_code == 302 and response.url == reverse("scrapers:source", args=[made.pk])
    assert Run.objects.filter(job=made.job).count() == 1


def test_check_now_gives_a_source_without_a_job_one(staff_client):
    made = source()
    # A source whose job was deleted before sources owned their jobs (now the job cannot be deleted alone).
    Source.objects.filter(pk=made.pk).update(job=None)
    Job.objects.filter(pk=made.job_id).delete()
    made.refresh_from_db()
    staff_client.post(reverse("scrapers:source_check", args=[made.pk]))
    made.refresh_from_db()
    assert made.job is not None and Run.objects.get().job_id == made.job_id


def test_preview_and_check_need_a_post(staff_client):
    made = source()
    assert staff_client.get(reverse("scrapers:source_preview")).status_code == 405
    assert staff_client.get(reverse("scrapers:source_check", args=[made.pk])).status_code == 405
    assert CONFIG  # the organizer page's configuration is what form_data posts


def test_the_list_and_the_admin_read_a_sources_health_the_same_way(viewer_client, admin_client):
    states = {
        "Fine": ({"last_success_at": timezone.now()}, "ok"),
        "Fresh": ({}, "not checked yet"),
        "Flaky": ({"consecutive_failures": 2, "last_error": "HTTP 503"}, "failing"),
        "Redesigned": (
            {"consecutive_failures": 1, "last_error": "Selectors may be broken: 0 items"},
            "selectors may be broken",
        ),
        "Down": (
            {"consecutive_failures": 4, "broken": True, "last_error": "Selectors may be broken: 0 items"},
            "broken",
        ),
    }
    for name, (fields, _label) in states.items():
        Source.objects.filter(pk=source(name).pk).update(**fields)
    page = viewer_client.get(reverse("scrapers:sources")).content.decode()
    admin_page = admin_client.get("/admin/scrapers/source/").content.decode()
    for name, (_fields, label) in states.items():
        assert Source.objects.get(name=name).health.label == label
        assert re.search(rf'class="badge [a-z]+">{label}<', page), label
        assert re.search(rf'class="vigia-badge vigia-[a-z]+" title="[^"]*">{label}( \d+)?<', admin_page), label
